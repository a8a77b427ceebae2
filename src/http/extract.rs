//! How request bodies and query strings are read, and what their failures answer.

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::{self, DeserializeOwned, Visitor};
use serde_json::value::RawValue;

use super::body_deadline::BodyTimedOut;
use super::error::ApiError;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn json_config() -> web::JsonConfig {
    json_config_with_limit(MAX_BODY_BYTES)
}

/// [`json_config`] with another size limit (a route that takes documents).
pub fn json_config_with_limit(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        // Only JSON: a form or text/plain body is what a foreign web page can send without
        // asking first (CSRF with no preflight).
        .content_type(|mime| {
            mime.type_() == actix_web::mime::APPLICATION
                && (mime.subtype() == actix_web::mime::JSON
                    || mime.suffix() == Some(actix_web::mime::JSON))
        })
        .error_handler(move |err, _req| {
            let api = match &err {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => ApiError::PayloadTooLarge(limit),
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::Unprocessable(format!("invalid request: {e}"))
                }
                JsonPayloadError::Deserialize(e) => {
                    ApiError::InvalidJson(format!("malformed JSON: {e}"))
                }
                JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
                JsonPayloadError::Payload(e) => match BodyTimedOut::in_payload_error(e) {
                    Some(late) => ApiError::BodyTimeout(*late),
                    None => ApiError::BadRequest("could not read the request body".into()),
                },
                _ => ApiError::BadRequest("could not read the request body".into()),
            };
            api.into()
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = match &err {
            QueryPayloadError::Deserialize(e) => format!("invalid query string: {e}"),
            _ => "invalid query string".to_string(),
        };
        ApiError::BadRequest(message).into()
    })
}

/// A JSON body read as `T`, a struct with named fields. A field `T` does not have is
/// refused (422), by name, with the fields it accepts: a misspelt optional field
/// (`persnoa`) would otherwise be dropped without a word.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Read as JSON text by `web::Json`: its size, type and syntax answers are
        // `json_config`'s.
        let text = web::Json::<Box<RawValue>>::from_request(req, payload);
        Box::pin(async move {
            let text = text.await?.into_inner();
            Ok(JsonBody(parse_body(text.get())?))
        })
    }
}

/// How many unknown fields a refusal names.
const UNKNOWN_FIELDS_NAMED: usize = 5;

fn parse_body<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    let accepted = field_names::<T>();
    let object = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text);
    if let (Some(accepted), Ok(object)) = (accepted, object) {
        let unknown: Vec<&String> = object
            .keys()
            .filter(|key| !accepted.contains(&key.as_str()))
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::Unprocessable(unknown_fields(&unknown, accepted)));
        }
    }
    serde_json::from_str(text).map_err(|e| ApiError::Unprocessable(format!("invalid request: {e}")))
}

/// `unknown field "persnoa"; accepted: query, mode, persona, model`.
fn unknown_fields(unknown: &[&String], accepted: &[&str]) -> String {
    let named: Vec<String> = unknown
        .iter()
        .take(UNKNOWN_FIELDS_NAMED)
        .map(|name| format!("{name:?}"))
        .collect();
    let more = match unknown.len().saturating_sub(UNKNOWN_FIELDS_NAMED) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let plural = if unknown.len() == 1 { "" } else { "s" };
    format!(
        "unknown field{plural} {}{more}; accepted: {}",
        named.join(", "),
        accepted.join(", ")
    )
}

/// The fields `T`'s derived `Deserialize` reads, as serde itself lists them (so the list
/// cannot drift from the struct); `None` if `T` is not a struct with named fields.
fn field_names<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    let mut names = None;
    // It fails by design: only the names were wanted.
    let _ = T::deserialize(FieldNames(&mut names));
    names
}

/// A deserializer that answers nothing and notes the fields a struct asks it for.
struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("only the field names were asked for"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct with named fields"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "read by serde only")]
    struct Sample {
        query: String,
        #[serde(rename = "mode")]
        how: Option<String>,
    }

    #[test]
    fn the_accepted_fields_are_the_structs_own_names() {
        assert_eq!(field_names::<Sample>(), Some(&["query", "mode"][..]));
        assert_eq!(field_names::<String>(), None);
    }

    #[test]
    fn an_unknown_field_is_named_with_the_accepted_ones() {
        let err = parse_body::<Sample>(r#"{"query": "x", "moed": "deep"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown field "moed"; accepted: query, mode"#
        );
        let many = r#"{"query": "x", "a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1}"#;
        let err = parse_body::<Sample>(many).unwrap_err().to_string();
        assert!(
            err.starts_with(r#"unknown fields "a", "b", "c", "d", "e" and 1 more;"#),
            "{err}"
        );
    }

    #[test]
    fn known_fields_parse_and_other_mistakes_keep_serdes_words() {
        let sample = parse_body::<Sample>(r#"{"query": "x", "mode": "deep"}"#).unwrap();
        assert_eq!(sample.how.as_deref(), Some("deep"));
        let err = parse_body::<Sample>(r#"{"query": "x", "query": "y"}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate field"), "{err}");
        let err = parse_body::<Sample>("[1]").unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }
}
