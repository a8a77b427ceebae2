//! Typed configuration: the settings (one field per key), how they load, and how secrets
//! stay hidden.

mod allowed_host;
mod database;
mod load;
mod log_level;
mod secret;
mod settings;

pub use allowed_host::AllowedHost;
pub use database::DatabaseSettings;
pub use load::{load, SettingsError, Sources};
pub use secret::Secret;
pub use settings::{
    redacted_http_url, AuthSettings, KnowledgeSettings, LogFormat, LogSettings, OllamaSettings,
    RetentionSettings, Settings,
};
