//! Property tests of the refresh-family state machine (`domain::refresh`): random sequences of
//! presentations (the newest token, retired ones, never-issued ones), clock moves across the
//! grace window and the absolute lifetime, and revocations, checked against the documented rules (README, `openapi.yaml`).
//! Successors are derived as the service derives them (`RefreshToken::successor`), so a grace
//! re-issue hands out the token the rotation issued.

use keygate_shared::domain::UserId;
use keygate_shared::domain::UsernameKey;
use keygate_shared::domain::refresh::{Decision, Family, FamilyId, apply, decide};
use keygate_shared::domain::secret::RefreshToken;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Present the newest token the client holds.
    Newest,
    /// Present an earlier token (index from the end of the issued list).
    Older(usize),
    /// Present a token of this family that was never issued.
    Forged,
    /// Move the clock.
    Advance(i64),
    /// Logout (revoke): the family dies.
    Revoke,
    /// Two tabs present the newest token at once: one rotation, then the same token again.
    TwoTabs,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Newest),
        2 => (1usize..6).prop_map(Op::Older),
        1 => Just(Op::Forged),
        3 => prop_oneof![0i64..5, 0i64..400, 0i64..200_000].prop_map(Op::Advance),
        1 => Just(Op::Revoke),
        2 => Just(Op::TwoTabs),
    ]
}

const LIFETIME: i64 = 86_400;
const SERVER_SECRET: &[u8] = b"the signing key";

struct Model {
    family: Family,
    issued: Vec<RefreshToken>,
    now: i64,
    grace: i64,
}

impl Model {
    fn new(grace: i64) -> Model {
        let id = FamilyId::generate();
        let first = RefreshToken::generate(id.clone());
        Model {
            family: Family {
                family_id: id,
                username_key: UsernameKey::of_any("ann"),
                user_id: UserId::generate(),
                client_id: "default".into(),
                session_epoch: 0,
                created_at: 1_000,
                expires_at: 1_000 + LIFETIME,
                current_hash: first.hash(),
                previous_hash: None,
                rotated_at: 1_000,
                revoked: false,
            },
            issued: vec![first],
            now: 1_000,
            grace,
        }
    }

    fn dead(&self) -> bool {
        self.family.revoked || self.now >= self.family.expires_at
    }

    /// Tokens the family would rotate (live tokens): at most one, the newest, while alive.
    fn live(&self) -> Vec<usize> {
        (0..self.issued.len())
            .filter(|i| decide(&self.family, &self.issued[*i].hash(), self.now, self.grace) == Decision::Rotate)
            .collect()
    }

    fn present(&mut self, t: &RefreshToken) -> Decision {
        let h = &t.hash();
        let d = decide(&self.family, h, self.now, self.grace);
        let next = t.successor(SERVER_SECRET);
        match apply(&self.family, d, h, &next.hash(), self.now) {
            Some(f) => {
                assert_eq!(
                    f.expires_at, self.family.expires_at,
                    "the absolute lifetime never moves"
                );
                assert!(!self.family.revoked || f.revoked, "a revoked family stays revoked");
                match d {
                    Decision::Rotate => self.issued.push(next),
                    Decision::GraceReissue => {
                        let newest = self.issued.last().map(RefreshToken::expose);
                        assert_eq!(
                            Some(next.expose()),
                            newest,
                            "a grace re-issue hands out the token the rotation issued"
                        );
                        assert_eq!(f, self.family, "a grace re-issue changes nothing");
                    }
                    Decision::RevokeFamily | Decision::Reject => {}
                }
                self.family = f;
            }
            None => assert_eq!(d, Decision::Reject, "only a rejection writes nothing"),
        }
        d
    }
}

fn run(grace: i64, ops: Vec<Op>) {
    let mut m = Model::new(grace);
    for op in ops {
        let was_dead = m.dead();
        let previous = m.family.previous_hash.clone();
        let rotated_at = m.family.rotated_at;
        match op {
            Op::Advance(dt) => m.now += dt,
            Op::Revoke => m.family.revoked = true,
            Op::Newest => {
                let t = m.issued.last().cloned().unwrap_or_else(|| unreachable!());
                let d = m.present(&t);
                if was_dead {
                    assert_eq!(d, Decision::Reject, "a dead family never yields a token");
                } else {
                    assert_eq!(d, Decision::Rotate, "the newest token of a live family rotates");
                }
            }
            Op::Older(back) => {
                if m.issued.len() <= back {
                    continue;
                }
                let t = m.issued[m.issued.len() - 1 - back].clone();
                let d = m.present(&t);
                let is_previous = previous.as_ref().is_some_and(|p| p.ct_eq(&t.hash()));
                let expected = if was_dead {
                    Decision::Reject
                } else if is_previous && grace > 0 && m.now < rotated_at + grace {
                    Decision::GraceReissue
                } else {
                    Decision::RevokeFamily
                };
                assert_eq!(
                    d, expected,
                    "a retired token: grace reissue inside the window, else revocation"
                );
                if d == Decision::RevokeFamily {
                    assert!(m.family.revoked);
                }
                if grace == 0 {
                    assert_ne!(d, Decision::GraceReissue, "no grace without KEYGATE_REFRESH_GRACE");
                }
            }
            Op::TwoTabs => {
                let t = m.issued.last().cloned().unwrap_or_else(|| unreachable!());
                let first = m.present(&t);
                let got_first = m.issued.last().map(RefreshToken::expose);
                let second = m.present(&t);
                if was_dead {
                    assert_eq!((first, second), (Decision::Reject, Decision::Reject));
                } else if grace > 0 {
                    assert_eq!((first, second), (Decision::Rotate, Decision::GraceReissue));
                    assert_eq!(
                        m.issued.last().map(RefreshToken::expose),
                        got_first,
                        "both tabs hold the same token, and it is live"
                    );
                } else {
                    assert_eq!(
                        (first, second),
                        (Decision::Rotate, Decision::RevokeFamily),
                        "without grace, one success and the family revoked"
                    );
                }
            }
            Op::Forged => {
                let t = RefreshToken::generate(m.family.family_id.clone());
                let d = m.present(&t);
                assert!(
                    matches!(d, Decision::Reject | Decision::RevokeFamily),
                    "a never-issued token never yields a token: {d:?}"
                );
            }
        }
        // At most one live token; exactly the newest while the family is alive.
        let live = m.live();
        if m.dead() {
            assert!(live.is_empty(), "a dead family has no live token");
            for t in &m.issued {
                assert_eq!(decide(&m.family, &t.hash(), m.now, grace), Decision::Reject);
            }
        } else {
            assert_eq!(live, vec![m.issued.len() - 1], "exactly one live token, the newest");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn without_grace(ops in proptest::collection::vec(op(), 1..40)) {
        run(0, ops);
    }

    #[test]
    fn with_grace(grace in 1i64..300, ops in proptest::collection::vec(op(), 1..40)) {
        run(grace, ops);
    }
}
