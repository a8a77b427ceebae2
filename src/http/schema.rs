//! Every route but the probes (and the API's description) needs the database's schema to be this binary's: 503
//! `migrations_pending` (with what to run) or `schema_newer` otherwise, before anything
//! reads a table, including authentication.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};

use super::error::ApiError;
use super::paths::{is_ui, OPEN};
use super::state::AppState;

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !OPEN.contains(&req.path()) && !is_ui(req.path()) {
        let state = req
            .app_data::<web::Data<AppState>>()
            .expect("the app state is registered");
        // Boxed, as auth's check is: a database call's future, needed only here.
        if let Err(e) = Box::pin(state.services.require_current_schema()).await {
            let error = ApiError::from(e);
            return Ok(req
                .into_response(error.error_response())
                .map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}
