//! Personas: `GET` and `POST /api/personas`, `PUT` and `DELETE /api/personas/{name}`.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{NewPersona, PersonaName, PersonaText};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::JsonBody;
use crate::http::state::AppState;
use crate::store::Persona;

#[derive(Serialize, ToSchema)]
pub struct PersonaList {
    personas: Vec<Persona>,
}

/// A new persona. Any other field is refused (422).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPersonaBody {
    /// Its name, as questions will name it: a letter, then letters, digits, `-` and `_`,
    /// at most 64; kept in lower case.
    #[schema(
        max_length = 64,
        pattern = "^[A-Za-z][A-Za-z0-9_-]*$",
        example = "tutor"
    )]
    name: String,
    /// One line, not blank, at most 100 characters.
    #[schema(min_length = 1, max_length = 100, example = "Tutor")]
    display_name: String,
    /// At most 500 characters; may be empty.
    #[schema(max_length = 500, example = "Explains one step at a time.")]
    description: String,
    /// Not blank, at most 8000 characters: the system prompt each question with this
    /// persona is asked with.
    #[schema(
        min_length = 1,
        max_length = 8000,
        example = "You are a patient tutor. Explain one step at a time."
    )]
    system_prompt: String,
}

/// A persona's new text: every field, as `POST` takes them. Any other field (its `name`
/// too) is refused (422).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonaTextBody {
    /// One line, not blank, at most 100 characters.
    #[schema(min_length = 1, max_length = 100, example = "Tutor")]
    display_name: String,
    /// At most 500 characters; may be empty.
    #[schema(max_length = 500, example = "Explains one step at a time.")]
    description: String,
    /// Not blank, at most 8000 characters.
    #[schema(
        min_length = 1,
        max_length = 8000,
        example = "You are a patient tutor. Explain one step at a time."
    )]
    system_prompt: String,
}

/// The path's `{name}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PersonaPath {
    /// The persona's name, in any case.
    #[param(max_length = 64, pattern = "^[A-Za-z][A-Za-z0-9_-]*$")]
    name: String,
}

/// A name in the path is the path's to answer for: a bad one is a bad request, as a bad
/// trace id is.
fn parse_name(text: &str) -> Result<PersonaName, ApiError> {
    PersonaName::parse(text).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// The personas and their system prompts
#[utoipa::path(
    get,
    path = "/api/personas",
    tag = "personas",
    operation_id = "list_personas",
    responses((status = 200, description = "every persona, by name", body = PersonaList))
)]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let personas = state.services.personas().await?;
    Ok(HttpResponse::Ok().json(PersonaList { personas }))
}

/// Add a persona
#[utoipa::path(
    post,
    path = "/api/personas",
    tag = "personas",
    operation_id = "create_persona",
    request_body = NewPersonaBody,
    responses(
        (status = 201, description = "the new persona", body = Persona),
        (status = 409, description = "`conflict`: a persona of this name exists (in any case)", body = ErrorBody),
        (status = 422, description = "`validation_failed`: a name that cannot be a persona's, a blank display name or system prompt, a display name of more than one line, a field over its length, a NUL character", body = ErrorBody),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<NewPersonaBody>,
) -> Result<HttpResponse, ApiError> {
    let new = NewPersona::parse(
        &body.name,
        &body.display_name,
        &body.description,
        &body.system_prompt,
    )?;
    let persona = state.services.create_persona(new).await?;
    Ok(HttpResponse::Created().json(persona))
}

/// Rewrite a persona
///
/// Its display name, description and system prompt are replaced; a shipped persona may be
/// rewritten too (`maia personas reset` restores the shipped text).
#[utoipa::path(
    put,
    path = "/api/personas/{name}",
    tag = "personas",
    operation_id = "replace_persona",
    params(PersonaPath),
    request_body = PersonaTextBody,
    responses(
        (status = 200, description = "the persona as it is now", body = Persona),
        (status = 400, description = "`bad_request`: the name cannot be a persona's", body = ErrorBody),
        (status = 404, description = "`not_found`: no persona has this name", body = ErrorBody),
        (status = 422, description = "`validation_failed`: a blank display name or system prompt, a display name of more than one line, a field over its length, a NUL character", body = ErrorBody),
    )
)]
pub async fn replace(
    state: web::Data<AppState>,
    path: web::Path<PersonaPath>,
    JsonBody(body): JsonBody<PersonaTextBody>,
) -> Result<HttpResponse, ApiError> {
    let name = parse_name(&path.name)?;
    let text = PersonaText::parse(&body.display_name, &body.description, &body.system_prompt)?;
    let persona = state.services.replace_persona(&name, text).await?;
    Ok(HttpResponse::Ok().json(persona))
}

/// Delete a persona
///
/// The traces and conversations that name it keep its name. A conversation with it must
/// be given another persona (`PATCH`) before it is asked again.
#[utoipa::path(
    delete,
    path = "/api/personas/{name}",
    tag = "personas",
    operation_id = "delete_persona",
    params(PersonaPath),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "`bad_request`: the name cannot be a persona's", body = ErrorBody),
        (status = 404, description = "`not_found`: no persona has this name", body = ErrorBody),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<PersonaPath>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .delete_persona(&parse_name(&path.name)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
