use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::error::ApiError;
use crate::http::state::AppState;

pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let personas = state.services.personas().await?;
    Ok(HttpResponse::Ok().json(json!({ "personas": personas })))
}
