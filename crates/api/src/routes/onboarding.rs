//! `/api/v1/onboarding` and `POST /profile/retake-quiz` (api.md §5, D4–D8).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blu_app::portfolio::{ConsentResult, FundingResult, RiskResult};
use blu_domain::questionnaire::QuestionnaireView;
use blu_domain::{AnswerItem, Irr, questionnaire_view};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Array, ArrayBuilder, ArrayItems, ObjectBuilder, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Body};
use crate::idempotency::{IdempotentRequest, respond};
use crate::openapi::{ErrorBody, MustBeTrue};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(questions))
        .routes(routes!(questionnaire))
        .routes(routes!(retake_quiz))
        .routes(routes!(consent))
        .routes(routes!(initial_funding))
}

/// The nine questions with Persian and English texts; options are `option_<index>`.
#[utoipa::path(get, path = "/onboarding/questions", tag = "onboarding",
    operation_id = "v1.onboarding.questions",
    responses((status = 200, description = "The questionnaire", body = QuestionnaireView)))]
async fn questions() -> Response {
    let mut response = Json(questionnaire_view()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    response
}

/// `{answers: [...]}`: nine items, `{questionId, optionId}` or `{questionId, answerId}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct QuestionnaireIn {
    #[schema(schema_with = answers_schema)]
    pub answers: Vec<AnswerItem>,
}

/// The nine answers in the order of `GET /onboarding/questions`, each naming one of its
/// question's `option_<index>` ids; built from the questionnaire itself. The server also takes
/// any order, the stored option ids and `answerId`, which the document leaves out.
fn answers_schema() -> Array {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let questions = questionnaire_view().questions;
    let items = questions.iter().map(|q| {
        let options = q.options.iter().map(|o| o.id.clone());
        ObjectBuilder::new()
            .property("questionId", string().enum_values(Some([q.id.as_str()])))
            .property("optionId", string().enum_values(Some(options)))
            .required("questionId")
            .required("optionId")
            .build()
    });
    ArrayBuilder::new()
        .prefix_items(items)
        .items(ArrayItems::False)
        .min_items(Some(questions.len()))
        .build()
}

async fn score(
    state: &AppState,
    user: &AuthUser,
    input: QuestionnaireIn,
) -> ApiResult<Json<RiskResult>> {
    Ok(Json(
        state
            .portfolio
            .submit_questionnaire(user.0.user_id, &input.answers)
            .await?,
    ))
}

/// Scores the risk questionnaire (first time or retake). A retake never trades.
#[utoipa::path(post, path = "/onboarding/questionnaire", tag = "onboarding",
    operation_id = "v1.onboarding.questionnaire", request_body = QuestionnaireIn,
    responses((status = 200, description = "Score, tier, profile and target", body = RiskResult),
        (status = 400, body = ErrorBody)))]
async fn questionnaire(
    State(state): State<AppState>,
    user: AuthUser,
    Body(input): Body<QuestionnaireIn>,
) -> ApiResult<Json<RiskResult>> {
    score(&state, &user, input).await
}

/// Alias of `POST /onboarding/questionnaire` (the plan's path).
#[utoipa::path(post, path = "/profile/retake-quiz", tag = "profile",
    operation_id = "v1.profile.retake_quiz", request_body = QuestionnaireIn,
    responses((status = 200, description = "Score, tier, profile and target", body = RiskResult),
        (status = 400, body = ErrorBody)))]
async fn retake_quiz(
    State(state): State<AppState>,
    user: AuthUser,
    Body(input): Body<QuestionnaireIn>,
) -> ApiResult<Json<RiskResult>> {
    score(&state, &user, input).await
}

/// The three consents; each must be literally `true`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentIn {
    #[schema(value_type = MustBeTrue)]
    pub consent_risk: Option<bool>,
    #[schema(value_type = MustBeTrue)]
    pub consent_loss: Option<bool>,
    #[schema(value_type = MustBeTrue)]
    pub consent_no_guarantee: Option<bool>,
}

/// Records the consents (after the questionnaire).
#[utoipa::path(post, path = "/onboarding/consent", tag = "onboarding",
    operation_id = "v1.onboarding.consent", request_body = ConsentIn,
    responses((status = 200, description = "Consent time", body = ConsentResult),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn consent(
    State(state): State<AppState>,
    user: AuthUser,
    Body(input): Body<ConsentIn>,
) -> ApiResult<Json<ConsentResult>> {
    for (field, value) in [
        ("consentRisk", input.consent_risk),
        ("consentLoss", input.consent_loss),
        ("consentNoGuarantee", input.consent_no_guarantee),
    ] {
        if value != Some(true) {
            return Err(ApiError::validation(field, "must be true"));
        }
    }
    Ok(Json(state.portfolio.consent(user.0.user_id).await?))
}

/// `{amountIrr}` (`amountIRR` accepted): 1,000,000 to 100,000,000,000 for the initial funding;
/// add-funds also takes 100,000 to 999,999 (D9), which this shared schema leaves out.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmountIn {
    #[serde(alias = "amountIRR", default, with = "blu_domain::num::option")]
    #[schema(value_type = f64, required = true, minimum = 1000000, maximum = 100000000000.0)]
    pub amount_irr: Option<Decimal>,
}

impl AmountIn {
    /// The amount, rounded half-up to whole rials (api.md §1.3).
    pub fn amount(&self) -> ApiResult<Irr> {
        self.amount_irr
            .map(Irr::round)
            .ok_or_else(|| ApiError::validation("amountIrr", "is required"))
    }
}

/// Creates the portfolio: 100 % invested at the static layer weights (D8). 201.
#[utoipa::path(post, path = "/onboarding/initial-funding", tag = "onboarding",
    operation_id = "v1.onboarding.initial_funding", request_body = AmountIn,
    responses((status = 201, description = "The new portfolio with holdings", body = FundingResult),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn initial_funding(
    State(state): State<AppState>,
    user: AuthUser,
    idempotency: IdempotentRequest,
    Body(input): Body<AmountIn>,
) -> ApiResult<Response> {
    let replied = state
        .portfolio
        .initial_funding(
            user.0.user_id,
            input.amount()?,
            idempotency.reply(StatusCode::CREATED),
        )
        .await?;
    Ok(respond(replied))
}
