use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::Persona;

#[derive(Serialize, ToSchema)]
pub struct PersonaList {
    personas: Vec<Persona>,
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
