use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::startup::AppState;
use crate::store;

pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let db = state.db().await?;
    let personas = store::list_personas(&**db).await?;
    Ok(HttpResponse::Ok().json(json!({ "personas": personas })))
}
