//! The DynamoDB store: one table, string keys `pk` and `sk`, TTL attribute `ttl` (epoch
//! seconds). Every step that must not race is one conditional write.
//!
//! | item | pk | sk | attributes |
//! | --- | --- | --- | --- |
//! | account | `USER#<username key>` | `ACCOUNT` | user_id, username, email, roles, disabled, password_hash, session_epoch, reset_epoch (absent: 0), created_at, updated_at |
//! | email index | `EMAIL#<email key>` | `EMAIL` | username_key (written with the account in one transaction) |
//! | username skeleton | `SKELETON#<skeleton>` | `SKELETON` | username_key (the confusable skeleton of the username, Unicode TR39; written with the account in one transaction) |
//! | login failures | `USER#<username key>` | `LOCK` | count, last_failure_at, ttl |
//! | reset deliveries | `USER#<username key>` | `RESETRATE` | window_start, count, ttl |
//! | API key | `APIKEY#<key id>` | `APIKEY` | name, roles, secret_hash, created_at, expires_at, ttl |
//! | refresh family | `FAMILY#<family id>` | `FAMILY` | username_key, user_id, client_id, session_epoch, created_at, expires_at, current_hash, previous_hash, rotated_at, revoked, ttl |
//! | reset token | `RESET#<token hash>` | `RESET` | username_key, epoch (absent: 0), created_at, expires_at, ttl |
//! | invitation or registration | `INVITE#<invitation id>` | `INVITE` | kind, email, roles, token_hash, created_at, expires_at, conflicts (absent: 0), ttl |
//! | pending invitation | `INVITATIONS` | `<invitation id>` | the same attributes (kind `invitation` only; written and deleted with its record in one transaction; deleted after the conflict that kills the token) |
//! | registration deliveries | `REGRATE#<mailbox>` or `REGRATE#@<mail domain>` | `REGRATE` | window_start, count, ttl |
//! | share link | `SHARE#<share id>` | `SHARE` | resource, shared_by, created_at, expires_at, revoked, ttl |
//! | a creator's live share | `SHARES#<user id>` | `<share id>` | the same attributes (written with the share, deleted when it is revoked, in one transaction) |
//! | revoked share | `SHARES-REVOKED` | `<share id>` | expires_at, ttl (written with the revocation) |
//! | published keys | `JWKS` | `JWKS` | jwks (the public JWKS as JSON), updated_at |
//!
//! Only hashes of API keys, refresh, reset and invitation tokens are stored. DynamoDB deletes expired
//! items some time after their `ttl` (and moto never does), so reads treat them as absent.
//!
//! Files: `items` is the codec (keys, records to items and back), `writes` the conditional-write
//! helpers, `schema` the table's creation; each store capability has a file of its own
//! (`accounts`, `lockout`, `api_keys`, `sessions`, `resets`, `jwks`, `invitations`, `shares`,
//! `inventory`), and `deliveries` the mail counters that resets and invitations share.

mod accounts;
mod api_keys;
mod deliveries;
mod inventory;
mod invitations;
mod items;
mod jwks;
mod lockout;
mod resets;
mod schema;
mod sessions;
mod shares;
mod writes;

pub use schema::create_table;

use crate::domain::UnixTime;
use crate::ports::StoreError;
use aws_sdk_dynamodb::Client;
use aws_types::SdkConfig;
use items::{Item, n, s};

/// The DynamoDB implementation of [`Store`](crate::ports::Store).
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn unavailable<E: std::error::Error>(e: E) -> StoreError {
    StoreError::Unavailable(super::aws::describe(&e))
}

impl DynamoStore {
    /// A store on `table`. Makes no call until used.
    pub fn new(sdk: &SdkConfig, table: String) -> DynamoStore {
        DynamoStore {
            client: Client::new(sdk),
            table,
        }
    }

    async fn get(&self, k: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(k))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// Puts an item, whatever stands under its key.
    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Every item of partition `pk` whose `expires_at` is after `after` (all pages).
    async fn query_partition(&self, pk: String, after: UnixTime) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .filter_expression("expires_at > :after")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":after", n(after))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }

    /// Every item whose sort key is `sk` (a paginated scan: for `keygate export` only).
    async fn scan_kind(&self, sk: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :sk")
                .expression_attribute_values(":sk", s(sk))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }
}
