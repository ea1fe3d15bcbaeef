//! Adapters: implementations of the ports.

pub mod aws;
pub mod dynamodb;
pub mod local_key;
pub mod mail;
pub mod memory;
pub mod published_keys;
pub mod secrets_manager;
