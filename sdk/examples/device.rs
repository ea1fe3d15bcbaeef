//! A device that logs in to keygate with an API key and calls a protected service.
//!
//! ```sh
//! KEYGATE_URL=http://127.0.0.1:3000 KEYGATE_API_KEY=kgk_... SERVICE_URL=http://127.0.0.1:8080/readings \
//!   cargo run -p keygate-sdk --example device
//! ```

use keygate_sdk::client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keygate = std::env::var("KEYGATE_URL").unwrap_or_else(|_| "http://127.0.0.1:3000".into());
    let key = std::env::var("KEYGATE_API_KEY")?;
    let service = std::env::var("SERVICE_URL").unwrap_or_else(|_| "http://127.0.0.1:8080/readings".into());
    let client = Client::with_api_key(&keygate, &key)?;
    let answer = client.get(&service).await?;
    println!("{} {}", answer.status, String::from_utf8_lossy(&answer.body));
    Ok(())
}
