//! The owner's knowledge: `POST` and `GET /api/documents`, `GET` and `DELETE
//! /api/documents/{id}`, and `GET /api/search?q=&k=` (hybrid: by meaning and by words).

use actix_multipart::Multipart;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::traces::{parse_cursor, parse_limit};
use crate::domain::{parse_k, DocumentInput, Query, MAX_DOCUMENT_BYTES};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::JsonBody;
use crate::http::state::AppState;
use crate::http::upload::{is_multipart, Upload};
use crate::service::{Caller, DocumentPage, DocumentView, PutDocument};
use crate::store::Hit;

/// The largest body `POST /api/documents` reads: a document at its largest, with every
/// character escaped in JSON, plus its title and source.
pub const MAX_BODY_BYTES: usize = 2 * MAX_DOCUMENT_BYTES + 64 * 1024;
/// The longest search, in characters: a question, not a document. Its URL stays well
/// within what a request line may be (a URL over 64 KiB is refused before maia sees it).
const MAX_Q_CHARS: usize = 1024;

/// A document uploaded as a file (`multipart/form-data`). Any other part is refused (422).
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "read by http::upload, part by part; here for the document"
)]
pub struct UploadForm {
    /// A `.md`, `.markdown` or `.txt` file (its name in the part's `filename`), UTF-8, at
    /// most 1 MiB; another kind is 415.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// One line, at most 200 characters; left out: the file's name without its extension.
    #[schema(max_length = 200)]
    title: Option<String>,
    /// As in the JSON body: the same source again replaces the document.
    #[schema(max_length = 2048)]
    source: Option<String>,
}

/// A document to add. Any other field is refused (422).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    /// One line, at most 200 characters.
    #[schema(min_length = 1, max_length = 200, example = "Backups")]
    title: String,
    /// Its text, markdown or plain: not blank, at most 1 MiB of UTF-8, no NUL character.
    #[schema(
        min_length = 1,
        example = "# Backups\n\npg_dump runs nightly at 02:00."
    )]
    content: String,
    /// Where it came from (a path, a URL), one line of at most 2048 characters: the same
    /// source again replaces the document when its content changed.
    #[schema(max_length = 2048, example = "vault/backups.md")]
    source: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// How many documents, 1 to 100; 20 by default.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Where the previous page ended: its `next_before`, unchanged.
    #[param(pattern = "^[A-Za-z0-9_-]{32}$")]
    before: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// What to search for: not blank, at most 16 KiB, no NUL character.
    #[param(
        required = true,
        min_length = 1,
        max_length = 16384,
        example = "when do backups run"
    )]
    q: Option<String>,
    /// How many hits, 1 to 50; 5 by default.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 50)]
    k: Option<String>,
}

/// The path's `{id}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DocumentId {
    /// The document's id.
    #[param(value_type = uuid::Uuid)]
    id: String,
}

/// A search's answer.
#[derive(Serialize, ToSchema)]
pub struct SearchHits {
    /// Best first.
    hits: Vec<Hit>,
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::BadRequest(format!("{text:?} is not a document id (a UUID)")))
}

/// Add a document
///
/// As JSON, or uploaded as a file (`multipart/form-data`). Cut into chunks on its headings
/// and paragraphs, each embedded by Ollama (`knowledge.embed_model`), then stored with its
/// chunks in one transaction. A document whose `source` is already there is replaced if
/// its content changed, left as it is if not (`outcome` says which).
#[utoipa::path(
    post,
    path = "/api/documents",
    tag = "knowledge",
    operation_id = "add_document",
    request_body(content(
        (AddBody = "application/json"),
        (UploadForm = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "the document as stored, and what was done", body = PutDocument),
        (status = 400, description = "`bad_request`: a multipart body that cannot be read", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: a JSON body over 2 MiB + 64 KiB, or an uploaded file over 1 MiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: a body neither `application/json` nor `multipart/form-data`, or an uploaded file that is not `.md`, `.markdown` or `.txt`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: a blank or over-long title, content or source, a NUL in the content; an upload without its file, with a part it does not take or twice, or a file that is not UTF-8", body = ErrorBody),
        (status = 502, description = "`model_not_found`: Ollama does not have the embedding model; `llm_error`: Ollama answered with an error", body = ErrorBody),
        (status = 503, description = "`knowledge_unavailable`: the database has no pgvector, or its documents were embedded with another model; the message says what to do. `llm_unavailable`: Ollama is unreachable; `llm_busy`: too many requests wait for Ollama", body = ErrorBody,
            headers(("Retry-After" = u64, description = "with `llm_busy`: seconds to wait"))),
        (status = 504, description = "`llm_timeout`: Ollama took longer than `ollama.timeout`", body = ErrorBody),
    )
)]
pub async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let input = if is_multipart(req.headers()) {
        let upload = Upload::read(Multipart::new(req.headers(), payload)).await?;
        let title = upload.title();
        let Some((_, content)) = upload.file else {
            let missing = "an upload needs its file: a part named \"file\"";
            return Err(ApiError::Unprocessable(missing.into()).into());
        };
        DocumentInput::parse(&title, content, upload.source.as_deref()).map_err(ApiError::from)?
    } else {
        let JsonBody(body) =
            JsonBody::<AddBody>::from_request(&req, &mut payload.into_inner()).await?;
        DocumentInput::parse(&body.title, body.content, body.source.as_deref())
            .map_err(ApiError::from)?
    };
    let put = state
        .services
        .add_document(&caller, input)
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Created().json(put))
}

/// The documents, newest first, a page at a time
///
/// A token sees its own and those added from the command line; one with `admin` sees
/// every document.
#[utoipa::path(
    get,
    path = "/api/documents",
    tag = "knowledge",
    operation_id = "list_documents",
    params(ListParams),
    responses(
        (status = 200, description = "a page of documents, without their content", body = DocumentPage),
        (status = 400, description = "`bad_request`: `before` is not a page cursor, or the query string cannot be read", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `limit` is not a whole number from 1 to 100", body = ErrorBody),
        (status = 503, description = "`knowledge_unavailable`: the database has no pgvector, or its documents were embedded with another model; the message says what to do", body = ErrorBody),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = parse_limit(params.limit.as_deref())?;
    let before = params.before.as_deref().map(parse_cursor).transpose()?;
    let page = state.services.documents(&caller, limit, before).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One document with its content
#[utoipa::path(
    get,
    path = "/api/documents/{id}",
    tag = "knowledge",
    operation_id = "get_document",
    params(DocumentId),
    responses(
        (status = 200, description = "the document and its content", body = DocumentView),
        (status = 400, description = "`bad_request`: the id is not a UUID", body = ErrorBody),
        (status = 404, description = "`not_found`: no such document (or another token's)", body = ErrorBody),
        (status = 503, description = "`knowledge_unavailable`: the database has no pgvector, or its documents were embedded with another model; the message says what to do", body = ErrorBody),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DocumentId>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .services
        .document(&caller, parse_id(&path.id)?)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Delete a document and its chunks
///
/// A token deletes its own; one with `admin`, any.
#[utoipa::path(
    delete,
    path = "/api/documents/{id}",
    tag = "knowledge",
    operation_id = "delete_document",
    params(DocumentId),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "`bad_request`: the id is not a UUID", body = ErrorBody),
        (status = 404, description = "`not_found`: no such document of this token's", body = ErrorBody),
        (status = 503, description = "`knowledge_unavailable`: the database has no pgvector, or its documents were embedded with another model; the message says what to do", body = ErrorBody),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DocumentId>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .remove_document(&caller, parse_id(&path.id)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Search the documents
///
/// The chunks nearest the question by meaning (its embedding, cosine distance) and those
/// that best match its words (full text), merged by reciprocal rank fusion.
#[utoipa::path(
    get,
    path = "/api/search",
    tag = "knowledge",
    operation_id = "search",
    params(SearchParams),
    responses(
        (status = 200, description = "the `k` best chunks, best first", body = SearchHits),
        (status = 400, description = "`bad_request`: the query string cannot be read", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `q` missing, blank, over 1024 characters or with a NUL; `k` not a whole number from 1 to 50", body = ErrorBody),
        (status = 502, description = "`model_not_found`: Ollama does not have the embedding model; `llm_error`: Ollama answered with an error", body = ErrorBody),
        (status = 503, description = "`knowledge_unavailable`: the database has no pgvector, or its documents were embedded with another model; the message says what to do. `llm_unavailable`: Ollama is unreachable; `llm_busy`: too many requests wait for Ollama", body = ErrorBody,
            headers(("Retry-After" = u64, description = "with `llm_busy`: seconds to wait"))),
        (status = 504, description = "`llm_timeout`: Ollama took longer than `ollama.timeout`", body = ErrorBody),
    )
)]
pub async fn search(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let q = params
        .q
        .clone()
        .ok_or_else(|| ApiError::Unprocessable("q is required: what to search for".into()))?;
    let q = Query::parse(q)
        .map_err(|e| ApiError::Unprocessable(e.to_string().replacen("query", "q", 1)))?;
    let chars = q.as_str().chars().count();
    if chars > MAX_Q_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "q is {chars} characters long; the limit is {MAX_Q_CHARS}"
        )));
    }
    let k = parse_k(params.k.as_deref())?;
    let hits = state.services.search(&caller, q.as_str(), k).await?;
    Ok(HttpResponse::Ok().json(SearchHits { hits }))
}
