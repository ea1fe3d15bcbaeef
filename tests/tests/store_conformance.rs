//! One conformance suite for every `Store`: each case runs against the in-memory store, the
//! embedded SQLite store and DynamoDB (moto), including the races. The SQLite store runs with
//! four connections, each acting as another process on the data directory would, so SQLite's
//! locks (not an in-process mutex) decide its races.

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use keygate_shared::adapters::dynamodb::DynamoStore;
use keygate_shared::adapters::memory::MemoryStore;
use keygate_shared::adapters::sqlite::{Db, SqliteStore};
use keygate_shared::domain::delivery::RegistrationCounter;
use keygate_shared::domain::invitation::MAX_CONFLICTS;
use keygate_shared::domain::lockout::Attempt;
use keygate_shared::domain::share::{ResourcePath, ShareId, ShareRecord};
use keygate_shared::domain::time::now;
use keygate_shared::domain::{
    Account, AccountUpdate, ApiKey, ApiKeyRecord, Email, Failures, Family, FamilyId, InvitationId, InvitationKind,
    InvitationRecord, InvitationToken, PasswordHash, RefreshToken, ResetRecord, ResetToken, Roles, RotateOutcome,
    UserId, Username, UsernameKey,
};
use keygate_shared::ports::{AccountStore, Inventory, InvitationStore, Store, StoreError};
use keygate_tests::tempdir::TempDir;
use std::sync::Arc;

async fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

async fn sqlite() -> (Arc<dyn Store>, TempDir) {
    let dir = TempDir::new("conformance");
    let db = Db::open_with_connections(&dir.path().join("data"), 4).unwrap();
    (Arc::new(SqliteStore::new(db)), dir)
}

async fn dynamo() -> Arc<dyn Store> {
    let (sdk, table) = keygate_tests::aws::fresh_table().await;
    Arc::new(DynamoStore::new(&sdk, table))
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $case() { super::$case(super::memory().await).await } )*
        }
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $case() { let (s, _dir) = super::sqlite().await; super::$case(s).await } )*
        }
        mod dynamodb {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $case() { super::$case(super::dynamo().await).await } )*
        }
    };
}

conformance!(
    accounts_are_unique_by_normalized_username_and_email,
    account_updates,
    login_lookup_and_failure_counting,
    concurrent_reservations_allow_exactly_five,
    api_keys,
    refresh_rotation_reuse_and_expiry,
    concurrent_rotations_give_one_winner,
    grace_reissue,
    concurrent_rotations_with_grace_agree,
    reset_tokens_are_single_use,
    a_finished_reset_spends_every_other_reset_token,
    reset_delivery_limit,
    published_keys,
    inventory_lists_every_account_and_api_key,
    invitations_put_get_expire_list_and_delete,
    redeeming_an_invitation_creates_the_account_and_spends_it,
    a_wrong_hash_or_an_expired_record_redeems_nothing,
    a_taken_username_or_email_leaves_the_invitation_redeemable,
    concurrent_redemptions_give_one_account,
    registration_delivery_limit,
    registration_limits_count_the_mailbox_not_the_spelling,
    registration_mails_per_domain_are_capped_at_20,
    five_conflicts_kill_a_token,
    concurrent_conflicts_count_at_most_five,
    share_links_list_revoke_and_expire,
    an_account_holds_at_most_its_limit_of_shares_revoked_ones_included,
    revoking_a_creators_shares_lists_every_one_of_them,
    a_username_that_looks_like_a_taken_one_is_a_conflict,
);

fn account(name: &str, email: Option<&str>) -> Account {
    let t = now();
    Account {
        user_id: UserId::generate(),
        username: Username::parse(name).unwrap(),
        email: email.map(|e| Email::parse(e).unwrap()),
        roles: Roles::parse(&["reader"]).unwrap(),
        disabled: false,
        password_hash: PasswordHash::from_stored("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into()),
        session_epoch: 0,
        reset_epoch: 0,
        created_at: t,
        updated_at: t,
    }
}

/// `admin` taken: its look-alikes (Cyrillic `а`, dotless `ı`, Cyrillic capitals) are refused by
/// `create_account` and `redeem_invitation`, leave nothing behind (their e-mail stays free, the
/// invitation redeemable), and a name that only resembles it in part is accepted.
async fn a_username_that_looks_like_a_taken_one_is_a_conflict(s: Arc<dyn Store>) {
    let admin = account("admin", Some("admin@example.org"));
    s.create_account(&admin).await.unwrap();
    for alike in ["\u{430}dmin", "adm\u{131}n", "\u{410}DMIN"] {
        let a = account(alike, Some("alike@example.org"));
        assert!(
            matches!(s.create_account(&a).await, Err(StoreError::Conflict(_))),
            "{alike:?}"
        );
        assert!(s.account(a.key()).await.unwrap().is_none(), "{alike:?}");
    }
    assert!(
        s.account_by_email(&Email::parse("alike@example.org").unwrap().key())
            .await
            .unwrap()
            .is_none()
    );

    let t = now();
    let (rec, tok) = invitation(InvitationKind::Invitation, "alike@example.org", &["user"], t, 600);
    s.put_invitation(&rec).await.unwrap();
    let alike = invited_account(&rec, "\u{430}dm\u{131}n");
    assert!(matches!(
        s.redeem_invitation(tok.id(), &tok.hash(), t, &alike).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(s.account(alike.key()).await.unwrap().is_none());
    assert_eq!(s.invitation(tok.id(), t).await.unwrap().unwrap(), rec);

    // Not look-alikes: accepted, the first by the invitation, then claiming its own skeleton.
    let admins = invited_account(&rec, "admins");
    assert!(s.redeem_invitation(tok.id(), &tok.hash(), t, &admins).await.unwrap());
    s.create_account(&account("adm1n", None)).await.unwrap();
    assert!(matches!(
        s.create_account(&account("\u{430}dmins", None)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.account(admin.key()).await.unwrap().unwrap(), admin);
}

fn family(a: &Account, t0: i64, ttl: i64) -> (Family, RefreshToken) {
    let id = FamilyId::generate();
    let tok = RefreshToken::generate(id.clone());
    let f = Family {
        family_id: id,
        username_key: a.key().clone(),
        user_id: a.user_id.clone(),
        client_id: "keygate".into(),
        session_epoch: 0,
        created_at: t0,
        expires_at: t0 + ttl,
        current_hash: tok.hash(),
        previous_hash: None,
        rotated_at: t0,
        revoked: false,
    };
    (f, tok)
}

async fn accounts_are_unique_by_normalized_username_and_email(s: Arc<dyn Store>) {
    let a = account("Zoë", Some("zoe@example.com"));
    s.create_account(&a).await.unwrap();
    assert!(matches!(
        s.create_account(&account("ZOË", None)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.create_account(&account("zoe2", Some("ZOE@example.com"))).await,
        Err(StoreError::Conflict(_))
    ));
    // The refused account left nothing behind.
    assert!(s.account(&UsernameKey::of_any("zoe2")).await.unwrap().is_none());
    assert_eq!(s.account(&UsernameKey::of_any("zoë")).await.unwrap().unwrap(), a);
    assert_eq!(
        s.account_by_email(&Email::parse("Zoe@Example.com").unwrap().key())
            .await
            .unwrap()
            .unwrap()
            .user_id,
        a.user_id
    );
    assert!(
        s.account_by_email(&Email::parse("x@example.com").unwrap().key())
            .await
            .unwrap()
            .is_none()
    );
}

async fn account_updates(s: Arc<dyn Store>) {
    let a = account("uma", None);
    s.create_account(&a).await.unwrap();
    let roles = Roles::parse(&["admin", "ops"]).unwrap();
    let upd = AccountUpdate {
        roles: Some(roles.clone()),
        disabled: Some(true),
        updated_at: 42,
        ..Default::default()
    };
    let b = s.update_account(a.key(), &upd).await.unwrap().unwrap();
    assert_eq!(
        (b.roles.clone(), b.disabled, b.updated_at, b.session_epoch),
        (roles, true, 42, 0)
    );
    let c = s
        .update_account(
            a.key(),
            &AccountUpdate {
                revoke_sessions: true,
                updated_at: 43,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.session_epoch, 1);
    let h = PasswordHash::from_stored("$argon2id$new".into());
    let d = s
        .update_account(
            a.key(),
            &AccountUpdate {
                password_hash: Some(h.clone()),
                updated_at: 44,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.password_hash, h);
    assert!(d.disabled, "fields not named stay as they were");
    assert!(
        s.update_account(&UsernameKey::of_any("nobody"), &upd)
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.account(&UsernameKey::of_any("nobody")).await.unwrap().is_none());
}

async fn login_lookup_and_failure_counting(s: Arc<dyn Store>) {
    let a = account("vic", None);
    s.create_account(&a).await.unwrap();
    let t = now();
    let (found, f) = s.login_lookup(a.key(), t).await.unwrap();
    assert_eq!((found.unwrap().user_id, f.count), (a.user_id.clone(), 0));
    let ghost = UsernameKey::of_any("ghost");
    let at = |count, last_failure_at| Failures { count, last_failure_at };
    for n in 1..=5 {
        let seen = s.login_lookup(&ghost, t).await.unwrap().1;
        assert_eq!(
            s.reserve_login_attempt(&ghost, seen, t).await.unwrap(),
            Attempt::Allowed(at(n, t))
        );
    }
    let (none, f) = s.login_lookup(&ghost, t).await.unwrap();
    assert!(none.is_none());
    assert_eq!(f, at(5, t));
    // Locked: refused and nothing counted, whatever `seen` says.
    for seen in [f, Failures::default()] {
        assert_eq!(
            s.reserve_login_attempt(&ghost, seen, t + 10).await.unwrap(),
            Attempt::Throttled { retry_after: 20 }
        );
    }
    assert_eq!(s.login_lookup(&ghost, t + 10).await.unwrap().1, at(5, t));
    // After the backoff one more attempt (decided on the stored counter even when `seen` is
    // stale), then a doubled backoff.
    assert_eq!(
        s.reserve_login_attempt(&ghost, Failures::default(), t + 30)
            .await
            .unwrap(),
        Attempt::Allowed(at(6, t + 30))
    );
    assert_eq!(
        s.reserve_login_attempt(&ghost, f, t + 31).await.unwrap(),
        Attempt::Throttled { retry_after: 59 }
    );
    s.clear_login_failures(&ghost).await.unwrap();
    assert_eq!(s.login_lookup(&ghost, t).await.unwrap().1.count, 0);
    // A counter older than a day is forgotten, whatever the backend still holds.
    let old = t - 100_000;
    for _ in 0..5 {
        s.reserve_login_attempt(&ghost, Failures::default(), old).await.unwrap();
    }
    assert_eq!(s.login_lookup(&ghost, t).await.unwrap().1.count, 0);
    assert_eq!(
        s.reserve_login_attempt(&ghost, Failures::default(), t).await.unwrap(),
        Attempt::Allowed(at(1, t))
    );
}

/// Many reservations for one username at once, in parallel: exactly five are allowed, the rest
/// refused with the first backoff; once it is over, of many again exactly one is allowed.
async fn concurrent_reservations_allow_exactly_five(s: Arc<dyn Store>) {
    async fn rush(s: &Arc<dyn Store>, k: &UsernameKey, now: i64) -> Vec<Attempt> {
        let seen = s.login_lookup(k, now).await.unwrap().1;
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let (s, k) = (s.clone(), k.clone());
                tokio::spawn(async move { s.reserve_login_attempt(&k, seen, now).await.unwrap() })
            })
            .collect();
        join_all(tasks).await.into_iter().map(Result::unwrap).collect()
    }
    fn allowed(outcomes: &[Attempt]) -> Vec<u32> {
        let mut counts: Vec<u32> = outcomes
            .iter()
            .filter_map(|o| match o {
                Attempt::Allowed(f) => Some(f.count),
                Attempt::Throttled { .. } => None,
            })
            .collect();
        counts.sort_unstable();
        counts
    }
    let k = UsernameKey::of_any("rush");
    let t = now();
    let first = rush(&s, &k, t).await;
    assert_eq!(allowed(&first), [1, 2, 3, 4, 5], "{first:?}");
    assert!(
        first
            .iter()
            .all(|o| matches!(o, Attempt::Allowed(_) | Attempt::Throttled { retry_after: 30 })),
        "{first:?}"
    );
    assert_eq!(s.login_lookup(&k, t).await.unwrap().1.count, 5);
    let second = rush(&s, &k, t + 30).await;
    assert_eq!(allowed(&second), [6], "{second:?}");
    assert!(
        second
            .iter()
            .all(|o| matches!(o, Attempt::Allowed(_) | Attempt::Throttled { retry_after: 60 })),
        "{second:?}"
    );
}

async fn api_keys(s: Arc<dyn Store>) {
    let k = ApiKey::generate();
    let rec = ApiKeyRecord {
        key_id: k.key_id().clone(),
        name: "sensor".into(),
        roles: Roles::parse(&["device"]).unwrap(),
        secret_hash: k.hash(),
        created_at: now(),
        expires_at: Some(now() + 60),
    };
    s.put_api_key(&rec).await.unwrap();
    assert!(matches!(s.put_api_key(&rec).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.api_key(k.key_id()).await.unwrap().unwrap(), rec);
    assert!(s.delete_api_key(k.key_id()).await.unwrap());
    assert!(!s.delete_api_key(k.key_id()).await.unwrap());
    assert!(s.api_key(k.key_id()).await.unwrap().is_none());
}

async fn refresh_rotation_reuse_and_expiry(s: Arc<dyn Store>) {
    let a = account("wes", None);
    let t = now();
    let (f, t1) = family(&a, t, 100);
    s.create_family(&f).await.unwrap();
    assert!(matches!(s.create_family(&f).await, Err(StoreError::Conflict(_))));
    let t2 = RefreshToken::generate(f.family_id.clone());
    let RotateOutcome::Rotated(g) = s
        .rotate_refresh(&f.family_id, &t1.hash(), &t2.hash(), t + 1, 0)
        .await
        .unwrap()
    else {
        panic!("rotation expected")
    };
    assert_eq!(
        (g.current_hash.clone(), g.previous_hash.clone(), g.username_key.clone()),
        (t2.hash(), Some(t1.hash()), a.key().clone())
    );
    let t3 = RefreshToken::generate(f.family_id.clone());
    assert_eq!(
        s.rotate_refresh(&f.family_id, &t1.hash(), &t3.hash(), t + 2, 0)
            .await
            .unwrap(),
        RotateOutcome::Reused
    );
    assert!(s.family(&f.family_id).await.unwrap().unwrap().revoked);
    assert_eq!(
        s.rotate_refresh(&f.family_id, &t2.hash(), &t3.hash(), t + 3, 0)
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );
    // Unknown family.
    let other = FamilyId::generate();
    assert_eq!(
        s.rotate_refresh(&other, &t1.hash(), &t3.hash(), t, 0).await.unwrap(),
        RotateOutcome::Invalid
    );
    // Expired family: nothing changes.
    let (old, o1) = family(&a, t - 200, 100);
    s.create_family(&old).await.unwrap();
    assert_eq!(
        s.rotate_refresh(&old.family_id, &o1.hash(), &t3.hash(), t, 0)
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );
    assert_eq!(s.family(&old.family_id).await.unwrap().unwrap(), old);
    // Explicit revocation.
    let (h, h1) = family(&a, t, 100);
    s.create_family(&h).await.unwrap();
    s.revoke_family(&h.family_id).await.unwrap();
    assert_eq!(
        s.rotate_refresh(&h.family_id, &h1.hash(), &t3.hash(), t, 0)
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );
    s.revoke_family(&FamilyId::generate()).await.unwrap();
}

async fn concurrent_rotations_give_one_winner(s: Arc<dyn Store>) {
    let a = account("xan", None);
    let t = now();
    let (f, t1) = family(&a, t, 100);
    s.create_family(&f).await.unwrap();
    let tasks = (0..20).map(|_| {
        let s = s.clone();
        let id = f.family_id.clone();
        let presented = t1.hash();
        async move {
            let next = RefreshToken::generate(id.clone());
            s.rotate_refresh(&id, &presented, &next.hash(), t + 1, 0).await.unwrap()
        }
    });
    let outcomes = join_all(tasks).await;
    let winners = outcomes
        .iter()
        .filter(|o| matches!(o, RotateOutcome::Rotated(_)))
        .count();
    assert_eq!(winners, 1, "{outcomes:?}");
}

/// With a grace window and one successor (as the service derives it), N concurrent refreshes
/// with one token all succeed, and the family ends with that successor live.
async fn concurrent_rotations_with_grace_agree(s: Arc<dyn Store>) {
    let a = account("yves", None);
    let t = now();
    let (f, t1) = family(&a, t, 1000);
    s.create_family(&f).await.unwrap();
    let t2 = t1.successor(b"server secret");
    let tasks = (0..20).map(|_| {
        let s = s.clone();
        let id = f.family_id.clone();
        let (presented, next) = (t1.hash(), t2.hash());
        async move { s.rotate_refresh(&id, &presented, &next, t + 1, 10).await.unwrap() }
    });
    let outcomes = join_all(tasks).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, RotateOutcome::Rotated(_))),
        "{outcomes:?}"
    );
    let g = s.family(&f.family_id).await.unwrap().unwrap();
    assert!(!g.revoked);
    assert_eq!((g.current_hash, g.previous_hash), (t2.hash(), Some(t1.hash())));
}

async fn grace_reissue(s: Arc<dyn Store>) {
    let a = account("yan", None);
    let t = now();
    let (f, t1) = family(&a, t, 1000);
    s.create_family(&f).await.unwrap();
    let t2 = RefreshToken::generate(f.family_id.clone());
    let t3 = RefreshToken::generate(f.family_id.clone());
    assert!(matches!(
        s.rotate_refresh(&f.family_id, &t1.hash(), &t2.hash(), t, 10)
            .await
            .unwrap(),
        RotateOutcome::Rotated(_)
    ));
    let RotateOutcome::Rotated(g) = s
        .rotate_refresh(&f.family_id, &t1.hash(), &t3.hash(), t + 5, 10)
        .await
        .unwrap()
    else {
        panic!("grace reissue expected")
    };
    assert_eq!(g.current_hash, t3.hash());
    // The same successor again (the service derives it from the presented token): the family
    // stays as it is, and that successor is the one live token.
    let RotateOutcome::Rotated(h) = s
        .rotate_refresh(&f.family_id, &t1.hash(), &t3.hash(), t + 6, 10)
        .await
        .unwrap()
    else {
        panic!("idempotent grace reissue expected")
    };
    assert_eq!(h, g);
    assert_eq!(s.family(&f.family_id).await.unwrap().unwrap(), g);
    // Past the window the same token is a reuse.
    let t4 = RefreshToken::generate(f.family_id.clone());
    assert_eq!(
        s.rotate_refresh(&f.family_id, &t1.hash(), &t4.hash(), t + 11, 10)
            .await
            .unwrap(),
        RotateOutcome::Reused
    );
}

async fn reset_tokens_are_single_use(s: Arc<dyn Store>) {
    let t = now();
    let tok = ResetToken::generate();
    let rec = ResetRecord {
        token_hash: tok.hash(),
        username_key: UsernameKey::of_any("zed"),
        epoch: 0,
        created_at: t,
        expires_at: t + 60,
    };
    s.put_reset_token(&rec).await.unwrap();
    let tasks = (0..10).map(|_| {
        let s = s.clone();
        let h = tok.hash();
        async move { s.spend_reset_token(&h, t).await.unwrap() }
    });
    let spent: Vec<_> = join_all(tasks).await.into_iter().flatten().collect();
    assert_eq!(spent, vec![rec]);
    let old = ResetToken::generate();
    let rec = ResetRecord {
        token_hash: old.hash(),
        username_key: UsernameKey::of_any("zed"),
        epoch: 0,
        created_at: t - 100,
        expires_at: t - 1,
    };
    s.put_reset_token(&rec).await.unwrap();
    assert!(s.spend_reset_token(&old.hash(), t).await.unwrap().is_none());
    assert!(
        s.spend_reset_token(&ResetToken::generate().hash(), t)
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_finished_reset_spends_every_other_reset_token(s: Arc<dyn Store>) {
    let t = now();
    let a = account("yara", None);
    s.create_account(&a).await.unwrap();
    let issue = |epoch: u64| ResetRecord {
        token_hash: ResetToken::generate().hash(),
        username_key: a.key().clone(),
        epoch,
        created_at: t,
        expires_at: t + 600,
    };
    let (first, second) = (issue(a.reset_epoch), issue(a.reset_epoch));
    s.put_reset_token(&first).await.unwrap();
    s.put_reset_token(&second).await.unwrap();
    let new_hash = PasswordHash::from_stored("$argon2id$v=19$m=64,t=1,p=1$bmV3c2FsdA$bmV3".into());

    let spent = s.spend_reset_token(&first.token_hash, t).await.unwrap().unwrap();
    let done = s
        .finish_reset(a.key(), spent.epoch, &new_hash, t + 1)
        .await
        .unwrap()
        .expect("the first reset finishes");
    assert_eq!(done.password_hash, new_hash);
    assert_eq!(done.session_epoch, a.session_epoch + 1);
    assert_eq!(done.reset_epoch, a.reset_epoch + 1);
    assert_eq!(done.updated_at, t + 1);
    assert_eq!(s.account(a.key()).await.unwrap().unwrap(), done);

    // The second token was issued before that reset: it can no longer finish one.
    let other = s.spend_reset_token(&second.token_hash, t).await.unwrap().unwrap();
    let again = PasswordHash::from_stored("$argon2id$v=19$m=64,t=1,p=1$b3RoZXI$b3RoZXI".into());
    assert!(
        s.finish_reset(a.key(), other.epoch, &again, t + 2)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.account(a.key()).await.unwrap().unwrap(), done);

    // A token issued after the reset carries the new epoch and works; of concurrent finishes
    // with one epoch, exactly one wins.
    let third = issue(done.reset_epoch);
    s.put_reset_token(&third).await.unwrap();
    let third = s.spend_reset_token(&third.token_hash, t).await.unwrap().unwrap();
    let tasks = (0..8).map(|_| {
        let (s, k, h) = (s.clone(), a.key().clone(), again.clone());
        async move { s.finish_reset(&k, third.epoch, &h, t + 3).await.unwrap() }
    });
    let winners = join_all(tasks).await.into_iter().flatten().count();
    assert_eq!(winners, 1);
    assert!(
        s.finish_reset(&UsernameKey::of_any("nobody"), 0, &again, t)
            .await
            .unwrap()
            .is_none()
    );
}

async fn reset_delivery_limit(s: Arc<dyn Store>) {
    let k = UsernameKey::of_any("quinn");
    let t = now();
    for _ in 0..3 {
        assert!(s.allow_reset_delivery(&k, t).await.unwrap());
    }
    assert!(!s.allow_reset_delivery(&k, t + 10).await.unwrap());
    assert!(s.allow_reset_delivery(&k, t + 901).await.unwrap());
    assert!(s.allow_reset_delivery(&UsernameKey::of_any("other"), t).await.unwrap());
}

async fn published_keys(s: Arc<dyn Store>) {
    use keygate_shared::domain::keys::{Alg, SigningKey};
    assert!(s.published_jwks().await.unwrap().is_none());
    let a = SigningKey::generate(Alg::ES256).unwrap();
    let b = SigningKey::generate(Alg::EdDSA).unwrap();
    let jwks = keygate_sdk::Jwks {
        keys: vec![a.public_jwk(), b.public_jwk()],
    };
    s.put_published_jwks(&jwks).await.unwrap();
    assert_eq!(s.published_jwks().await.unwrap().unwrap(), jwks);
    let one = keygate_sdk::Jwks {
        keys: vec![b.public_jwk()],
    };
    s.put_published_jwks(&one).await.unwrap();
    assert_eq!(s.published_jwks().await.unwrap().unwrap(), one);
}

async fn inventory_lists_every_account_and_api_key(s: Arc<dyn Store>) {
    assert!(s.all_accounts().await.unwrap().is_empty());
    let (a, b) = (account("inv-a", Some("a@example.org")), account("inv-b", None));
    s.create_account(&a).await.unwrap();
    s.create_account(&b).await.unwrap();
    let mut keys = Vec::new();
    for expires_at in [None, Some(now() + 60)] {
        let k = ApiKey::generate();
        let rec = ApiKeyRecord {
            key_id: k.key_id().clone(),
            name: "inventory".into(),
            roles: Roles::parse(&["device"]).unwrap(),
            secret_hash: k.hash(),
            created_at: now(),
            expires_at,
        };
        s.put_api_key(&rec).await.unwrap();
        keys.push(rec);
    }
    let mut accounts = s.all_accounts().await.unwrap();
    accounts.sort_by(|x, y| x.key().cmp(y.key()));
    assert_eq!(accounts, vec![a, b]);
    let mut listed = s.all_api_keys().await.unwrap();
    listed.sort_by(|x, y| x.key_id.cmp(&y.key_id));
    keys.sort_by(|x, y| x.key_id.cmp(&y.key_id));
    assert_eq!(listed, keys);
}

fn invitation(
    kind: InvitationKind,
    email: &str,
    roles: &[&str],
    created_at: i64,
    ttl: i64,
) -> (InvitationRecord, InvitationToken) {
    let id = InvitationId::try_generate().unwrap();
    let tok = InvitationToken::try_generate(id.clone()).unwrap();
    let rec = InvitationRecord {
        invitation_id: id,
        kind,
        email: Email::parse(email).unwrap(),
        roles: Roles::parse(roles).unwrap(),
        token_hash: tok.hash(),
        created_at,
        expires_at: created_at + ttl,
        conflicts: 0,
    };
    (rec, tok)
}

/// The account a redemption creates: the record's e-mail and roles, the chosen username.
fn invited_account(rec: &InvitationRecord, name: &str) -> Account {
    Account {
        email: Some(rec.email.clone()),
        roles: rec.roles.clone(),
        ..account(name, None)
    }
}

async fn invitations_put_get_expire_list_and_delete(s: Arc<dyn Store>) {
    let t = now();
    assert!(s.pending_invitations(t).await.unwrap().is_empty());
    let (first, _) = invitation(InvitationKind::Invitation, "first@example.org", &["user"], t - 20, 600);
    let (second, _) = invitation(
        InvitationKind::Invitation,
        "second@example.org",
        &["admin", "user"],
        t - 10,
        600,
    );
    let (expired, _) = invitation(InvitationKind::Invitation, "late@example.org", &["user"], t - 100, 50);
    let (registration, _) = invitation(InvitationKind::Registration, "self@example.org", &["user"], t - 30, 600);
    // Stored out of order: the list is oldest first whatever the ids.
    for r in [&second, &expired, &registration, &first] {
        s.put_invitation(r).await.unwrap();
    }
    assert!(matches!(s.put_invitation(&first).await, Err(StoreError::Conflict(_))));
    assert!(matches!(
        s.put_invitation(&registration).await,
        Err(StoreError::Conflict(_))
    ));

    assert_eq!(s.invitation(&first.invitation_id, t).await.unwrap().unwrap(), first);
    assert_eq!(
        s.invitation(&registration.invitation_id, t).await.unwrap().unwrap(),
        registration
    );
    assert!(s.invitation(&expired.invitation_id, t).await.unwrap().is_none());
    assert_eq!(
        s.invitation(&expired.invitation_id, t - 60).await.unwrap().unwrap(),
        expired,
        "unexpired before its end"
    );
    // Expiry is exclusive: at `expires_at` it is gone.
    assert!(
        s.invitation(&first.invitation_id, first.expires_at)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.invitation(&InvitationId::try_generate().unwrap(), t)
            .await
            .unwrap()
            .is_none()
    );

    // Pending: kind `Invitation` only, unexpired, oldest first.
    assert_eq!(
        s.pending_invitations(t).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(
        s.pending_invitations(t - 60).await.unwrap(),
        vec![expired.clone(), first.clone(), second.clone()]
    );

    assert!(s.delete_invitation(&first.invitation_id).await.unwrap());
    assert!(!s.delete_invitation(&first.invitation_id).await.unwrap());
    assert!(s.invitation(&first.invitation_id, t).await.unwrap().is_none());
    assert_eq!(s.pending_invitations(t).await.unwrap(), vec![second.clone()]);
    assert!(s.delete_invitation(&registration.invitation_id).await.unwrap());
    assert!(s.invitation(&registration.invitation_id, t).await.unwrap().is_none());
    assert!(
        !s.delete_invitation(&InvitationId::try_generate().unwrap())
            .await
            .unwrap()
    );
    // A deleted id may be stored again (a new record).
    s.put_invitation(&first).await.unwrap();
    assert_eq!(s.pending_invitations(t).await.unwrap(), vec![first, second]);
}

async fn redeeming_an_invitation_creates_the_account_and_spends_it(s: Arc<dyn Store>) {
    let t = now();
    for (kind, email, roles) in [
        (InvitationKind::Invitation, "Ivy@Example.org", &["editor", "user"][..]),
        (InvitationKind::Registration, "reg@example.org", &["user"][..]),
    ] {
        let (rec, tok) = invitation(kind, email, roles, t, 600);
        s.put_invitation(&rec).await.unwrap();
        let name = format!("new-{}", kind.as_str());
        let a = invited_account(&rec, &name);
        assert!(s.redeem_invitation(tok.id(), &tok.hash(), t + 1, &a).await.unwrap());
        let stored = s.account(&UsernameKey::of_any(&name)).await.unwrap().unwrap();
        assert_eq!(stored, a);
        assert_eq!(stored.email.as_ref().unwrap().as_str(), email);
        assert_eq!(stored.roles, Roles::parse(roles).unwrap());
        assert_eq!(
            s.account_by_email(&Email::parse(email).unwrap().key())
                .await
                .unwrap()
                .unwrap()
                .user_id,
            a.user_id
        );
        // Spent: gone, unlisted, and it redeems nothing more.
        assert!(s.invitation(tok.id(), t + 1).await.unwrap().is_none());
        assert!(s.pending_invitations(t + 1).await.unwrap().is_empty());
        assert!(!s.delete_invitation(tok.id()).await.unwrap());
        let again = invited_account(&rec, &format!("again-{}", kind.as_str()));
        assert!(!s.redeem_invitation(tok.id(), &tok.hash(), t + 2, &again).await.unwrap());
        assert!(s.account(again.key()).await.unwrap().is_none());
    }
}

async fn a_wrong_hash_or_an_expired_record_redeems_nothing(s: Arc<dyn Store>) {
    let t = now();
    let (rec, tok) = invitation(InvitationKind::Invitation, "wh@example.org", &["user"], t, 600);
    s.put_invitation(&rec).await.unwrap();
    let a = invited_account(&rec, "wrong-hash");
    let forged = InvitationToken::try_generate(rec.invitation_id.clone()).unwrap();
    assert!(!s.redeem_invitation(tok.id(), &forged.hash(), t, &a).await.unwrap());
    assert!(s.account(a.key()).await.unwrap().is_none());
    assert!(s.account_by_email(&rec.email.key()).await.unwrap().is_none());
    assert_eq!(s.invitation(tok.id(), t).await.unwrap().unwrap(), rec);
    assert_eq!(s.pending_invitations(t).await.unwrap(), vec![rec.clone()]);
    // Unknown id.
    let stray = InvitationToken::try_generate(InvitationId::try_generate().unwrap()).unwrap();
    assert!(!s.redeem_invitation(stray.id(), &stray.hash(), t, &a).await.unwrap());
    // Expired (at `expires_at` and after), even with the right hash: nothing changes.
    for at in [rec.expires_at, rec.expires_at + 1] {
        assert!(!s.redeem_invitation(tok.id(), &tok.hash(), at, &a).await.unwrap());
    }
    assert!(s.account(a.key()).await.unwrap().is_none());
    assert_eq!(s.invitation(tok.id(), t).await.unwrap().unwrap(), rec);
    // Still good before its end.
    assert!(
        s.redeem_invitation(tok.id(), &tok.hash(), rec.expires_at - 1, &a)
            .await
            .unwrap()
    );
}

async fn a_taken_username_or_email_leaves_the_invitation_redeemable(s: Arc<dyn Store>) {
    let t = now();
    let taken = account("taken", Some("someone@example.org"));
    s.create_account(&taken).await.unwrap();
    let (rec, tok) = invitation(InvitationKind::Invitation, "fresh@example.org", &["user"], t, 600);
    s.put_invitation(&rec).await.unwrap();

    // The username is taken (in another case): Conflict, nothing changes.
    let clash = invited_account(&rec, "TAKEN");
    assert!(matches!(
        s.redeem_invitation(tok.id(), &tok.hash(), t, &clash).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.account(taken.key()).await.unwrap().unwrap(), taken);
    assert!(s.account_by_email(&rec.email.key()).await.unwrap().is_none());
    assert_eq!(s.invitation(tok.id(), t).await.unwrap().unwrap(), rec);
    assert_eq!(s.pending_invitations(t).await.unwrap(), vec![rec.clone()]);

    // The token still redeems, with another username.
    let a = invited_account(&rec, "fresh");
    assert!(s.redeem_invitation(tok.id(), &tok.hash(), t, &a).await.unwrap());
    assert_eq!(s.account(a.key()).await.unwrap().unwrap(), a);
    assert!(s.invitation(tok.id(), t).await.unwrap().is_none());

    // The e-mail already has an account: Conflict, nothing changes, the record stays.
    let (dup, dup_tok) = invitation(InvitationKind::Registration, "SomeOne@example.org", &["user"], t, 600);
    s.put_invitation(&dup).await.unwrap();
    let b = invited_account(&dup, "someone-else");
    assert!(matches!(
        s.redeem_invitation(dup_tok.id(), &dup_tok.hash(), t, &b).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(s.account(b.key()).await.unwrap().is_none());
    assert_eq!(
        s.account_by_email(&dup.email.key()).await.unwrap().unwrap().user_id,
        taken.user_id
    );
    assert_eq!(s.invitation(dup_tok.id(), t).await.unwrap().unwrap(), dup);
    // A wrong hash is `false` before any conflict is reported.
    let forged = InvitationToken::try_generate(dup.invitation_id.clone()).unwrap();
    assert!(
        !s.redeem_invitation(dup_tok.id(), &forged.hash(), t, &clash)
            .await
            .unwrap()
    );
}

async fn concurrent_redemptions_give_one_account(s: Arc<dyn Store>) {
    let t = now();
    let (rec, tok) = invitation(InvitationKind::Invitation, "race@example.org", &["user"], t, 600);
    s.put_invitation(&rec).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (s, id, hash) = (s.clone(), tok.id().clone(), tok.hash());
            let a = invited_account(&rec, &format!("racer-{i}"));
            tokio::spawn(async move {
                let won = s.redeem_invitation(&id, &hash, t, &a).await.unwrap();
                (won, a)
            })
        })
        .collect();
    let outcomes: Vec<(bool, Account)> = join_all(tasks).await.into_iter().map(Result::unwrap).collect();
    let winners: Vec<&Account> = outcomes.iter().filter(|(won, _)| *won).map(|(_, a)| a).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let mut created = Vec::new();
    for (_, a) in &outcomes {
        if let Some(stored) = s.account(a.key()).await.unwrap() {
            created.push(stored);
        }
    }
    assert_eq!(created, vec![winners[0].clone()]);
    assert_eq!(
        s.account_by_email(&rec.email.key()).await.unwrap().unwrap().user_id,
        winners[0].user_id
    );
    assert!(s.invitation(tok.id(), t).await.unwrap().is_none());
}

fn mailbox(address: &str) -> RegistrationCounter {
    RegistrationCounter::mailbox(&Email::parse(address).unwrap())
}

fn mail_domain(address: &str) -> RegistrationCounter {
    RegistrationCounter::domain(&Email::parse(address).unwrap())
}

async fn registration_delivery_limit(s: Arc<dyn Store>) {
    let e = mailbox("Limit@Example.org");
    let t = now();
    for _ in 0..3 {
        assert!(s.allow_registration_delivery(&e, t).await.unwrap());
    }
    assert!(!s.allow_registration_delivery(&e, t + 10).await.unwrap());
    assert!(
        !s.allow_registration_delivery(&mailbox("Limit@example.ORG"), t + 899)
            .await
            .unwrap()
    );
    // Per mailbox, and apart from the reset mails' counter.
    assert!(
        s.allow_registration_delivery(&mailbox("other@example.org"), t)
            .await
            .unwrap()
    );
    assert!(
        s.allow_reset_delivery(&UsernameKey::of_any("limit@example.org"), t)
            .await
            .unwrap()
    );
    // A new window.
    assert!(s.allow_registration_delivery(&e, t + 901).await.unwrap());
}

async fn registration_limits_count_the_mailbox_not_the_spelling(s: Arc<dyn Store>) {
    let t = now();
    // One mailbox: the domain's case, a trailing dot and `+tag`s do not make another.
    for spelling in ["Alice+x@Example.COM.", "Alice@example.com", "Alice+y@EXAMPLE.com"] {
        assert!(
            s.allow_registration_delivery(&mailbox(spelling), t).await.unwrap(),
            "{spelling}"
        );
    }
    for spelling in ["Alice@example.com", "Alice+z@example.com.", "Alice@Example.Com"] {
        assert!(
            !s.allow_registration_delivery(&mailbox(spelling), t + 10).await.unwrap(),
            "{spelling}"
        );
    }
    // The local part otherwise compares as written.
    assert!(
        s.allow_registration_delivery(&mailbox("alice@example.com"), t)
            .await
            .unwrap()
    );
    // The domain's counter is another key: a full mailbox leaves it untouched, and back.
    assert!(
        s.allow_registration_delivery(&mail_domain("alice@example.com"), t)
            .await
            .unwrap()
    );
    assert!(
        s.allow_registration_delivery(&mailbox("bob@example.com"), t)
            .await
            .unwrap()
    );
}

async fn registration_mails_per_domain_are_capped_at_20(s: Arc<dyn Store>) {
    let t = now();
    for i in 0..20 {
        let spelling = if i % 2 == 0 { "x@Cap.Example." } else { "y@cap.example" };
        assert!(
            s.allow_registration_delivery(&mail_domain(spelling), t + i)
                .await
                .unwrap(),
            "mail {i}"
        );
    }
    assert!(
        !s.allow_registration_delivery(&mail_domain("z@CAP.example"), t + 30)
            .await
            .unwrap()
    );
    assert!(
        !s.allow_registration_delivery(&mail_domain("z@cap.example"), t + 899)
            .await
            .unwrap()
    );
    // Mailboxes at that domain keep their own counters, and other domains theirs.
    assert!(
        s.allow_registration_delivery(&mailbox("z@cap.example"), t + 30)
            .await
            .unwrap()
    );
    assert!(
        s.allow_registration_delivery(&mail_domain("z@other.example"), t + 30)
            .await
            .unwrap()
    );
    // A new window.
    assert!(
        s.allow_registration_delivery(&mail_domain("z@cap.example"), t + 900)
            .await
            .unwrap()
    );
}

async fn five_conflicts_kill_a_token(s: Arc<dyn Store>) {
    let t = now();
    let (rec, tok) = invitation(InvitationKind::Invitation, "probe@example.org", &["user"], t, 600);
    s.put_invitation(&rec).await.unwrap();
    // Another hash, an unknown record or an expired one count nothing.
    let forged = InvitationToken::try_generate(rec.invitation_id.clone()).unwrap();
    assert_eq!(
        s.count_invitation_conflict(tok.id(), &forged.hash(), t).await.unwrap(),
        None
    );
    let stray = InvitationToken::try_generate(InvitationId::try_generate().unwrap()).unwrap();
    assert_eq!(
        s.count_invitation_conflict(stray.id(), &stray.hash(), t).await.unwrap(),
        None
    );
    assert_eq!(
        s.count_invitation_conflict(tok.id(), &tok.hash(), rec.expires_at)
            .await
            .unwrap(),
        None
    );
    for n in 1..MAX_CONFLICTS {
        assert_eq!(
            s.count_invitation_conflict(tok.id(), &tok.hash(), t).await.unwrap(),
            Some(n)
        );
        assert_eq!(s.invitation(tok.id(), t).await.unwrap().unwrap().conflicts, n);
    }
    assert_eq!(s.pending_invitations(t).await.unwrap().len(), 1);
    assert_eq!(MAX_CONFLICTS, 5);
    assert_eq!(
        s.count_invitation_conflict(tok.id(), &tok.hash(), t).await.unwrap(),
        Some(5)
    );
    // Dead: no read returns it, it is off the list, nothing redeems it or counts on it.
    assert!(s.invitation(tok.id(), t).await.unwrap().is_none());
    assert!(s.pending_invitations(t).await.unwrap().is_empty());
    assert_eq!(
        s.count_invitation_conflict(tok.id(), &tok.hash(), t).await.unwrap(),
        None
    );
    let a = invited_account(&rec, "prober");
    assert!(!s.redeem_invitation(tok.id(), &tok.hash(), t, &a).await.unwrap());
    assert!(s.account(a.key()).await.unwrap().is_none());

    // One conflict short of the limit, a token still redeems.
    let (reg, reg_tok) = invitation(InvitationKind::Registration, "close@example.org", &["user"], t, 600);
    s.put_invitation(&reg).await.unwrap();
    for n in 1..MAX_CONFLICTS {
        assert_eq!(
            s.count_invitation_conflict(reg_tok.id(), &reg_tok.hash(), t)
                .await
                .unwrap(),
            Some(n)
        );
    }
    let b = invited_account(&reg, "closer");
    assert!(s.redeem_invitation(reg_tok.id(), &reg_tok.hash(), t, &b).await.unwrap());
    assert_eq!(s.account(b.key()).await.unwrap().unwrap(), b);
}

async fn concurrent_conflicts_count_at_most_five(s: Arc<dyn Store>) {
    let t = now();
    let (rec, tok) = invitation(InvitationKind::Invitation, "swarm@example.org", &["user"], t, 600);
    s.put_invitation(&rec).await.unwrap();
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (s, id, hash) = (s.clone(), tok.id().clone(), tok.hash());
            tokio::spawn(async move { s.count_invitation_conflict(&id, &hash, t).await.unwrap() })
        })
        .collect();
    let mut counted: Vec<u32> = join_all(tasks).await.into_iter().filter_map(|r| r.unwrap()).collect();
    counted.sort_unstable();
    assert_eq!(counted, [1, 2, 3, 4, 5]);
    assert!(s.invitation(tok.id(), t).await.unwrap().is_none());
    assert!(s.pending_invitations(t).await.unwrap().is_empty());
}

/// A database written at schema version 1 (before invitations) upgrades when opened: its
/// accounts stay, and invitations and the registration counter work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_version_1_database_upgrades() {
    use keygate_shared::adapters::sqlite::SCHEMA_VERSION;
    let dir = TempDir::new("upgrade");
    let data = dir.path().join("data");
    let old = account("veteran", Some("veteran@example.org"));
    {
        let s = SqliteStore::new(Db::open(&data).unwrap());
        s.create_account(&old).await.unwrap();
    }
    // Back to version 1: versions 2 to 5 only added these (5 a column of `invitations`).
    let conn = rusqlite::Connection::open(data.join("keygate.db")).unwrap();
    conn.execute_batch(
        "DROP INDEX invitations_by_kind; DROP TABLE invitations; DROP TABLE registration_deliveries;
         DROP INDEX shares_by_creator; DROP INDEX shares_revoked; DROP TABLE shares;
         DROP TABLE username_skeletons;
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);

    let s = SqliteStore::new(Db::open(&data).unwrap());
    let conn = rusqlite::Connection::open(data.join("keygate.db")).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!((version, SCHEMA_VERSION), (5, 5));
    drop(conn);
    assert_eq!(s.account(old.key()).await.unwrap().unwrap(), old);
    // The upgrade claimed the old account's skeleton: a look-alike (Cyrillic `е`) is refused.
    assert!(matches!(
        s.create_account(&account("v\u{435}teran", None)).await,
        Err(StoreError::Conflict(_))
    ));
    let t = now();
    let (rec, tok) = invitation(InvitationKind::Invitation, "newcomer@example.org", &["user"], t, 600);
    s.put_invitation(&rec).await.unwrap();
    assert_eq!(s.pending_invitations(t).await.unwrap(), vec![rec.clone()]);
    let a = invited_account(&rec, "newcomer");
    assert!(s.redeem_invitation(tok.id(), &tok.hash(), t, &a).await.unwrap());
    assert!(
        s.allow_registration_delivery(&RegistrationCounter::mailbox(&rec.email), t)
            .await
            .unwrap()
    );
}

/// A version 3 database whose accounts include look-alikes created before skeletons were kept
/// (`admin`, then `аdmin` with a Cyrillic `а`, written as keygate wrote them then): the upgrade
/// keeps both, both still log in by their keys, and a new look-alike of either is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_look_alike_accounts_from_before_skeletons_survive_the_upgrade() {
    let dir = TempDir::new("upgrade-alike");
    let data = dir.path().join("data");
    let (first, second) = (account("admin", None), account("b", None));
    {
        let s = SqliteStore::new(Db::open(&data).unwrap());
        s.create_account(&first).await.unwrap();
        s.create_account(&second).await.unwrap();
    }
    // Back to version 3, and `b` renamed `аdmin` as an older keygate could have stored it.
    let conn = rusqlite::Connection::open(data.join("keygate.db")).unwrap();
    conn.execute_batch(
        "DROP TABLE username_skeletons;
         ALTER TABLE invitations DROP COLUMN conflicts;
         UPDATE accounts SET username_key = '\u{430}dmin', username = '\u{430}dmin' WHERE username_key = 'b';
         PRAGMA user_version = 3;",
    )
    .unwrap();
    drop(conn);

    let s = SqliteStore::new(Db::open(&data).unwrap());
    assert_eq!(s.account(first.key()).await.unwrap().unwrap(), first);
    let kept = s.account(&UsernameKey::of_any("\u{430}dmin")).await.unwrap().unwrap();
    assert_eq!(kept.user_id, second.user_id);
    assert_eq!(s.all_accounts().await.unwrap().len(), 2);
    for alike in ["adm\u{131}n", "\u{430}dm\u{131}n"] {
        assert!(
            matches!(
                s.create_account(&account(alike, None)).await,
                Err(StoreError::Conflict(_))
            ),
            "{alike:?}"
        );
    }
}

/// DynamoDB: accounts created before skeletons were kept have no skeleton item; `keygate
/// bootstrap`'s `claim_skeletons` writes them (once), and a look-alike is refused after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_claim_skeletons_covers_accounts_from_before_skeletons() {
    let (sdk, table) = keygate_tests::aws::fresh_table().await;
    let s = DynamoStore::new(&sdk, table.clone());
    let admin = account("admin", None);
    s.create_account(&admin).await.unwrap();
    // As an older keygate left it: no skeleton item.
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let skeleton = admin.username.skeleton();
    client
        .delete_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("SKELETON#{}", skeleton.as_str())))
        .key("sk", AttributeValue::S("SKELETON".into()))
        .send()
        .await
        .unwrap();

    assert_eq!(s.claim_skeletons().await.unwrap(), 1);
    assert_eq!(s.claim_skeletons().await.unwrap(), 0);
    assert!(matches!(
        s.create_account(&account("\u{430}dmin", None)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.account(admin.key()).await.unwrap().unwrap(), admin);
}

fn share(by: &UserId, resource: &str, created_at: i64, expires_at: i64) -> ShareRecord {
    ShareRecord {
        share_id: ShareId::generate(),
        resource: ResourcePath::parse(resource).unwrap(),
        shared_by: by.clone(),
        created_at,
        expires_at,
        revoked: false,
    }
}

async fn an_account_holds_at_most_its_limit_of_shares_revoked_ones_included(s: Arc<dyn Store>) {
    let t = now();
    let (ann, bob) = (UserId::generate(), UserId::generate());
    let a: Vec<ShareRecord> = (0..3).map(|i| share(&ann, "/graphs/42", t - 10 + i, t + 600)).collect();
    for r in &a {
        assert!(s.put_share(r, 3).await.unwrap());
    }
    let fourth = share(&ann, "/graphs/43", t, t + 600);
    assert!(!s.put_share(&fourth, 3).await.unwrap(), "the fourth is over the limit");
    assert_eq!(s.share(&fourth.share_id, t).await.unwrap(), None, "and was not written");
    // Revoking does not free a place: revoked shares count until they expire.
    assert!(s.revoke_share(&a[0].share_id, t).await.unwrap());
    assert!(!s.put_share(&fourth, 3).await.unwrap(), "a revoked share still counts");
    // Another account has its own limit.
    assert!(s.put_share(&share(&bob, "/graphs/42", t, t + 600), 3).await.unwrap());
    // Once they expire, the places are free again.
    let later = share(&ann, "/graphs/44", t + 601, t + 1200);
    assert!(s.put_share(&later, 3).await.unwrap());
}

async fn revoking_a_creators_shares_lists_every_one_of_them(s: Arc<dyn Store>) {
    let t = now();
    let (ann, bob) = (UserId::generate(), UserId::generate());
    let mine: Vec<ShareRecord> = (0..5).map(|i| share(&ann, "/graphs/42", t - 10 + i, t + 600)).collect();
    for r in &mine {
        assert!(s.put_share(r, 1000).await.unwrap());
    }
    let theirs = share(&bob, "/graphs/42", t, t + 600);
    assert!(s.put_share(&theirs, 1000).await.unwrap());
    assert!(s.revoke_share(&mine[0].share_id, t).await.unwrap());
    assert_eq!(s.revoke_shares_by(&ann, t).await.unwrap(), 4, "the four live ones");
    assert!(s.shares_by(&ann, t).await.unwrap().is_empty());
    let mut want: Vec<ShareId> = mine.iter().map(|r| r.share_id.clone()).collect();
    want.sort();
    assert_eq!(
        s.revoked_shares(t).await.unwrap(),
        want,
        "every one is listed, bob's is not"
    );
    assert!(!s.share(&theirs.share_id, t).await.unwrap().is_some_and(|r| r.revoked));
    assert_eq!(s.revoke_shares_by(&ann, t).await.unwrap(), 0);
}

async fn share_links_list_revoke_and_expire(s: Arc<dyn Store>) {
    let t = now();
    let (ann, bob) = (UserId::generate(), UserId::generate());
    let a1 = share(&ann, "/graphs/42", t - 20, t + 600);
    let a2 = share(&ann, "/graphs/43", t - 10, t + 600);
    let gone = share(&ann, "/graphs/44", t - 900, t - 1);
    let b1 = share(&bob, "/graphs/42", t - 5, t + 60);
    for r in [&a1, &a2, &gone, &b1] {
        assert!(s.put_share(r, 1000).await.unwrap());
    }
    assert!(matches!(s.put_share(&a1, 1000).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.share(&a1.share_id, t).await.unwrap().as_ref(), Some(&a1));
    assert_eq!(s.share(&gone.share_id, t).await.unwrap(), None, "expired");
    assert_eq!(s.share(&ShareId::generate(), t).await.unwrap(), None);
    let listed: Vec<ShareId> = s
        .shares_by(&ann, t)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.share_id)
        .collect();
    assert_eq!(
        listed,
        [a1.share_id.clone(), a2.share_id.clone()],
        "live ones, oldest first, only ann's"
    );
    assert!(s.revoked_shares(t).await.unwrap().is_empty());

    assert!(s.revoke_share(&a1.share_id, t).await.unwrap());
    assert!(
        s.revoke_share(&a1.share_id, t).await.unwrap(),
        "revoking twice is still true"
    );
    assert!(
        !s.revoke_share(&gone.share_id, t).await.unwrap(),
        "an expired share is gone"
    );
    assert!(!s.revoke_share(&ShareId::generate(), t).await.unwrap());
    assert!(s.share(&a1.share_id, t).await.unwrap().is_some_and(|r| r.revoked));
    let listed: Vec<ShareId> = s
        .shares_by(&ann, t)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.share_id)
        .collect();
    assert_eq!(
        listed,
        std::slice::from_ref(&a2.share_id),
        "a revoked share leaves the list"
    );
    assert_eq!(s.shares_by(&bob, t).await.unwrap().len(), 1);
    // The revocation list names it until its expiry (callers pass now - leeway).
    assert_eq!(
        s.revoked_shares(t - 30).await.unwrap(),
        std::slice::from_ref(&a1.share_id)
    );
    assert_eq!(s.revoked_shares(t + 601).await.unwrap(), Vec::<ShareId>::new());
    // After its expiry it is gone everywhere.
    assert_eq!(s.share(&a2.share_id, t + 601).await.unwrap(), None);
    assert!(s.shares_by(&ann, t + 601).await.unwrap().is_empty());
}
