//! `GET /api/export`: everything the owner has, as the NDJSON `maia export` writes, streamed
//! a page at a time (chunked) as a file to save.

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use futures_util::TryStreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::Since;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::state::AppState;

/// What a download is called.
const FILE_NAME: &str = "maia-export.ndjson";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Only rows made at or after this day (`2026-12-01`, midnight UTC) or time (RFC
    /// 3339), and every persona and token.
    since: Option<String>,
}

/// Everything, as a file
///
/// Personas, tokens (names and scopes, never their hashes), conversations, traces,
/// messages, documents and their chunks' text, one JSON object a line after a header line:
/// the same bytes as `maia export`, for `maia import`. Streamed: a page of rows at a time.
#[utoipa::path(
    get,
    path = "/api/export",
    tag = "export",
    operation_id = "export",
    params(ExportParams),
    responses(
        (status = 200, description = "the export, as an attachment", content_type = "application/x-ndjson", body = String,
            headers(("content-disposition" = String, description = "attachment; filename=\"maia-export.ndjson\""))),
        (status = 422, description = "`validation_failed`: `since` is not a date", body = ErrorBody),
    )
)]
pub async fn export(
    state: web::Data<AppState>,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    let since = params
        .since
        .as_deref()
        .map(Since::parse)
        .transpose()
        .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let pieces = state
        .services
        .export(since)
        .map_ok(Bytes::from)
        .inspect_err(|e| {
            tracing::error!(error = %e, "the export stopped");
        });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(FILE_NAME.to_string())],
        })
        .streaming(pieces))
}
