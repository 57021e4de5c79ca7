//! The risk questionnaire v10.1 as product data, its public view and answer parsing
//! (business-rules §1.1–1.3, §1.7; decisions D5; api.md §5).
//!
//! The server scores from its own copy of the questionnaire: a client sends only which option it
//! chose, never a score or a flag (D5, business-rules §12 item 2). Texts are copied verbatim from
//! business-rules §1.2; the zero-width non-joiners of the Persian texts are written as `\u{200c}`
//! so that they are visible in review.

use std::fmt;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{ErrorCode, RuleResult, RuleViolation};

/// Version tag of the questionnaire; stored with every score so a later version can tell which
/// questions produced it.
pub const QUESTIONNAIRE_VERSION: &str = "v10.1";

/// Consent sentence shown with the consent checkboxes, Persian (`consent_exact`, §1.7).
pub const CONSENT_FA: &str = "متوجه ریسک این سبد دارایی شدم و باهاش موافق هستم.";
/// Consent sentence shown with the consent checkboxes, English (`consent_english`, §1.7).
pub const CONSENT_EN: &str = "I understand the risk of this portfolio and I agree with it.";

/// The nine questions, in presentation order (the order of [`QUESTIONS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuestionId {
    Income,
    Buffer,
    Proportion,
    Goal,
    Horizon,
    Crash20,
    Tradeoff,
    PastBehavior,
    MaxLoss,
}

impl QuestionId {
    /// All questions in presentation order.
    pub const ALL: [QuestionId; 9] = [
        QuestionId::Income,
        QuestionId::Buffer,
        QuestionId::Proportion,
        QuestionId::Goal,
        QuestionId::Horizon,
        QuestionId::Crash20,
        QuestionId::Tradeoff,
        QuestionId::PastBehavior,
        QuestionId::MaxLoss,
    ];

    /// The wire id (`q_income`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            QuestionId::Income => "q_income",
            QuestionId::Buffer => "q_buffer",
            QuestionId::Proportion => "q_proportion",
            QuestionId::Goal => "q_goal",
            QuestionId::Horizon => "q_horizon",
            QuestionId::Crash20 => "q_crash_20",
            QuestionId::Tradeoff => "q_tradeoff",
            QuestionId::PastBehavior => "q_past_behavior",
            QuestionId::MaxLoss => "q_max_loss",
        }
    }

    /// Position in presentation order (0–8), also the index into [`QUESTIONS`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The question's data.
    pub fn question(self) -> &'static Question {
        &QUESTIONS[self.index()]
    }

    /// Looks a wire id up. Question ids are matched exactly: they are identifiers the app copies
    /// from `GET /onboarding/questions`, not free text.
    pub fn parse(id: &str) -> Option<QuestionId> {
        QuestionId::ALL.into_iter().find(|q| q.as_str() == id)
    }
}

impl fmt::Display for QuestionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for QuestionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What a question measures (§1.1). Only capacity and willingness enter the score; the horizon
/// acts through hard caps and the goal is kept for analytics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Dimension {
    Capacity,
    Willingness,
    Horizon,
    Goal,
}

/// A behavioural flag carried by an option; flags drive the pathological caps of §1.4 step 6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    HighProportion,
    PanicSeller,
    CheckCapacity,
    Gambler,
    Inexperienced,
}

impl Flag {
    /// Every flag, in the order flags first appear in the questionnaire.
    pub const ALL: [Flag; 5] = [
        Flag::HighProportion,
        Flag::PanicSeller,
        Flag::CheckCapacity,
        Flag::Gambler,
        Flag::Inexperienced,
    ];

    /// The wire spelling (`panic_seller`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::HighProportion => "high_proportion",
            Flag::PanicSeller => "panic_seller",
            Flag::CheckCapacity => "check_capacity",
            Flag::Gambler => "gambler",
            Flag::Inexperienced => "inexperienced",
        }
    }
}

/// A group of questions shown on one screen (§1.1).
#[derive(Debug, PartialEq, Eq)]
pub struct Block {
    pub id: &'static str,
    pub title_en: &'static str,
    pub title_fa: &'static str,
}

pub static BLOCK_CAPACITY: Block = Block {
    id: "block_capacity",
    title_en: "Your Financial Situation",
    title_fa: "وضعیت مالی شما",
};

pub static BLOCK_GOALS: Block = Block {
    id: "block_goals",
    title_en: "Your Goals",
    title_fa: "اهداف شما",
};

pub static BLOCK_BEHAVIOR: Block = Block {
    id: "block_behavior",
    title_en: "How You React",
    title_fa: "واکنش شما",
};

/// One answer option. Its identity is the `id` (or, equivalently, its `index` within the
/// question); `score`, `flag` and `horizon_cap` never leave the server.
#[derive(Debug, PartialEq, Eq)]
pub struct QuestionOption {
    /// The file's option id (`inc_fixed`, …).
    pub id: &'static str,
    /// Position in the question (0–3); the app sends it as `option_<index>`.
    pub index: u8,
    /// Score 1–10 of this answer.
    pub score: u8,
    pub flag: Option<Flag>,
    /// The hard cap on the score this answer imposes (only `hz_1year` → 3 and `hz_1_3` → 5).
    /// Kept on the option so the cap follows the option's identity, never its score
    /// (business-rules §12 item 3).
    pub horizon_cap: Option<u8>,
    pub label_en: &'static str,
    pub label_fa: &'static str,
}

impl QuestionOption {
    /// The index form of the id the app uses: `option_<index>`.
    pub fn wire_id(&self) -> String {
        format!("option_{}", self.index)
    }
}

/// One question with its four options in presentation order.
#[derive(Debug, PartialEq, Eq)]
pub struct Question {
    pub id: QuestionId,
    pub block: &'static Block,
    pub dimension: Dimension,
    /// Weight of the question inside its dimension's weighted average (§1.1).
    pub weight: Decimal,
    pub text_en: &'static str,
    pub text_fa: &'static str,
    pub options: [QuestionOption; 4],
}

impl Question {
    /// Finds an option by the file's id (`inc_fixed`) or by the index form `option_<#>`.
    ///
    /// Choice: the file id is matched ASCII case-insensitively (request enums are, api.md §1.1);
    /// the index form must be exactly `option_0` … `option_3`, so `option_4`, `option_-1` or
    /// `option_01` are refused rather than guessed at.
    pub fn find_option(&'static self, id: &str) -> Option<&'static QuestionOption> {
        if let Some(index) = id.strip_prefix("option_") {
            let index = match index.as_bytes() {
                [digit @ b'0'..=b'3'] => usize::from(digit - b'0'),
                _ => return None,
            };
            return self.options.get(index);
        }
        self.options
            .iter()
            .find(|option| option.id.eq_ignore_ascii_case(id))
    }
}

pub static QUESTIONS: [Question; 9] = [
    Question {
        id: QuestionId::Income,
        block: &BLOCK_CAPACITY,
        dimension: Dimension::Capacity,
        weight: dec!(1.0),
        text_en: "How predictable is your income?",
        text_fa: "درآمدت چقدر قابل پیش\u{200c}بینیه؟",
        options: [
            QuestionOption {
                id: "inc_fixed",
                index: 0,
                score: 8,
                flag: None,
                horizon_cap: None,
                label_en: "Fixed and reliable (salary, pension)",
                label_fa: "ثابت و مطمئن (حقوق، مستمری)",
            },
            QuestionOption {
                id: "inc_mostly",
                index: 1,
                score: 6,
                flag: None,
                horizon_cap: None,
                label_en: "Mostly stable with some variation",
                label_fa: "تقریباً ثابت با کمی نوسان",
            },
            QuestionOption {
                id: "inc_variable",
                index: 2,
                score: 4,
                flag: None,
                horizon_cap: None,
                label_en: "Variable (freelance, business)",
                label_fa: "متغیر (فریلنس، کسب\u{200c}وکار)",
            },
            QuestionOption {
                id: "inc_uncertain",
                index: 3,
                score: 1,
                flag: None,
                horizon_cap: None,
                label_en: "Uncertain or unemployed",
                label_fa: "نامشخص یا بی\u{200c}کار",
            },
        ],
    },
    Question {
        id: QuestionId::Buffer,
        block: &BLOCK_CAPACITY,
        dimension: Dimension::Capacity,
        weight: dec!(1.2),
        text_en: "Without this money, how many months can you cover expenses?",
        text_fa: "بدون این پول، چند ماه می\u{200c}تونی خرج زندگیت رو بدی؟",
        options: [
            QuestionOption {
                id: "buf_12plus",
                index: 0,
                score: 10,
                flag: None,
                horizon_cap: None,
                label_en: "More than 12 months",
                label_fa: "بیش از ۱۲ ماه",
            },
            QuestionOption {
                id: "buf_6_12",
                index: 1,
                score: 7,
                flag: None,
                horizon_cap: None,
                label_en: "6 to 12 months",
                label_fa: "۶ تا ۱۲ ماه",
            },
            QuestionOption {
                id: "buf_3_6",
                index: 2,
                score: 4,
                flag: None,
                horizon_cap: None,
                label_en: "3 to 6 months",
                label_fa: "۳ تا ۶ ماه",
            },
            QuestionOption {
                id: "buf_under3",
                index: 3,
                score: 1,
                flag: None,
                horizon_cap: None,
                label_en: "Less than 3 months",
                label_fa: "کمتر از ۳ ماه",
            },
        ],
    },
    Question {
        id: QuestionId::Proportion,
        block: &BLOCK_CAPACITY,
        dimension: Dimension::Capacity,
        weight: dec!(1.3),
        text_en: "What percentage of your total wealth is this?",
        text_fa: "این پول چند درصد از کل دارایی\u{200c}هاته؟",
        options: [
            QuestionOption {
                id: "prop_small",
                index: 0,
                score: 10,
                flag: None,
                horizon_cap: None,
                label_en: "Less than 25%",
                label_fa: "کمتر از ۲۵٪",
            },
            QuestionOption {
                id: "prop_medium",
                index: 1,
                score: 6,
                flag: None,
                horizon_cap: None,
                label_en: "25% to 50%",
                label_fa: "۲۵٪ تا ۵۰٪",
            },
            QuestionOption {
                id: "prop_large",
                index: 2,
                score: 3,
                flag: None,
                horizon_cap: None,
                label_en: "50% to 75%",
                label_fa: "۵۰٪ تا ۷۵٪",
            },
            QuestionOption {
                id: "prop_most",
                index: 3,
                score: 1,
                flag: Some(Flag::HighProportion),
                horizon_cap: None,
                label_en: "More than 75%",
                label_fa: "بیشتر از ۷۵٪",
            },
        ],
    },
    Question {
        id: QuestionId::Goal,
        block: &BLOCK_GOALS,
        dimension: Dimension::Goal,
        weight: dec!(1.0),
        text_en: "What's your main goal for this investment?",
        text_fa: "هدف اصلیت از این سرمایه\u{200c}گذاری چیه؟",
        options: [
            QuestionOption {
                id: "goal_preserve",
                index: 0,
                score: 2,
                flag: None,
                horizon_cap: None,
                label_en: "Preserve value against inflation",
                label_fa: "حفظ ارزش پول در برابر تورم",
            },
            QuestionOption {
                id: "goal_income",
                index: 1,
                score: 4,
                flag: None,
                horizon_cap: None,
                label_en: "Steady income (regular returns)",
                label_fa: "درآمد ثابت (سود منظم)",
            },
            QuestionOption {
                id: "goal_grow",
                index: 2,
                score: 7,
                flag: None,
                horizon_cap: None,
                label_en: "Long-term wealth growth",
                label_fa: "رشد سرمایه در بلندمدت",
            },
            QuestionOption {
                id: "goal_maximize",
                index: 3,
                score: 10,
                flag: None,
                horizon_cap: None,
                label_en: "Maximum returns (high risk OK)",
                label_fa: "حداکثر بازدهی (ریسک بالا قبوله)",
            },
        ],
    },
    Question {
        id: QuestionId::Horizon,
        block: &BLOCK_GOALS,
        dimension: Dimension::Horizon,
        weight: dec!(1.0),
        text_en: "When might you need to withdraw this money?",
        text_fa: "کِی ممکنه بخوای این پول رو برداری؟",
        options: [
            QuestionOption {
                id: "hz_1year",
                index: 0,
                score: 1,
                flag: None,
                horizon_cap: Some(3),
                label_en: "Less than 1 year",
                label_fa: "کمتر از ۱ سال",
            },
            QuestionOption {
                id: "hz_1_3",
                index: 1,
                score: 4,
                flag: None,
                horizon_cap: Some(5),
                label_en: "1 to 3 years",
                label_fa: "۱ تا ۳ سال",
            },
            QuestionOption {
                id: "hz_3_7",
                index: 2,
                score: 7,
                flag: None,
                horizon_cap: None,
                label_en: "3 to 7 years",
                label_fa: "۳ تا ۷ سال",
            },
            QuestionOption {
                id: "hz_7plus",
                index: 3,
                score: 10,
                flag: None,
                horizon_cap: None,
                label_en: "More than 7 years",
                label_fa: "بیش از ۷ سال",
            },
        ],
    },
    Question {
        id: QuestionId::Crash20,
        block: &BLOCK_BEHAVIOR,
        dimension: Dimension::Willingness,
        weight: dec!(2.0),
        text_en: "Imagine 3 months after investing, your portfolio is down 20%. What do you do?",
        text_fa: "فرض کن ۳ ماه بعد از سرمایه\u{200c}گذاری، ارزش پورتفوت ۲۰٪ کم شده. چیکار می\u{200c}کنی؟",
        options: [
            QuestionOption {
                id: "crash_sell_all",
                index: 0,
                score: 1,
                flag: Some(Flag::PanicSeller),
                horizon_cap: None,
                label_en: "Sell everything to avoid more loss",
                label_fa: "همه رو می\u{200c}فروشم که بیشتر ضرر نکنم",
            },
            QuestionOption {
                id: "crash_sell_some",
                index: 1,
                score: 3,
                flag: None,
                horizon_cap: None,
                label_en: "Sell some, keep the rest",
                label_fa: "یه مقدار می\u{200c}فروشم، بقیه رو نگه می\u{200c}دارم",
            },
            QuestionOption {
                id: "crash_hold",
                index: 2,
                score: 6,
                flag: None,
                horizon_cap: None,
                label_en: "Wait for the market to recover",
                label_fa: "صبر می\u{200c}کنم تا بازار برگرده",
            },
            QuestionOption {
                id: "crash_buy",
                index: 3,
                score: 9,
                flag: Some(Flag::CheckCapacity),
                horizon_cap: None,
                label_en: "Buy more because it's cheaper",
                label_fa: "بیشتر می\u{200c}خرم چون ارزون شده",
            },
        ],
    },
    Question {
        id: QuestionId::Tradeoff,
        block: &BLOCK_BEHAVIOR,
        dimension: Dimension::Willingness,
        weight: dec!(1.5),
        text_en: "Which do you prefer?",
        text_fa: "کدوم رو ترجیح میدی؟",
        options: [
            QuestionOption {
                id: "trade_safe",
                index: 0,
                score: 2,
                flag: None,
                horizon_cap: None,
                label_en: "Guaranteed 20% annual return",
                label_fa: "سود تضمینی ۲۰٪ در سال",
            },
            QuestionOption {
                id: "trade_moderate",
                index: 1,
                score: 5,
                flag: None,
                horizon_cap: None,
                label_en: "50% chance of +40% or -10%",
                label_fa: "۵۰٪ شانس سود ۴۰٪ یا ضرر ۱۰٪",
            },
            QuestionOption {
                id: "trade_risky",
                index: 2,
                score: 8,
                flag: None,
                horizon_cap: None,
                label_en: "50% chance of +80% or -25%",
                label_fa: "۵۰٪ شانس سود ۸۰٪ یا ضرر ۲۵٪",
            },
            QuestionOption {
                id: "trade_yolo",
                index: 3,
                score: 10,
                flag: Some(Flag::Gambler),
                horizon_cap: None,
                label_en: "50% chance of +150% or -50%",
                label_fa: "۵۰٪ شانس سود ۱۵۰٪ یا ضرر ۵۰٪",
            },
        ],
    },
    Question {
        id: QuestionId::PastBehavior,
        block: &BLOCK_BEHAVIOR,
        dimension: Dimension::Willingness,
        weight: dec!(1.0),
        text_en: "Last time an investment dropped, how did you feel?",
        text_fa: "آخرین باری که یه سرمایه\u{200c}گذاریت افت کرد، چه حسی داشتی؟",
        options: [
            QuestionOption {
                id: "past_panic",
                index: 0,
                score: 1,
                flag: None,
                horizon_cap: None,
                label_en: "Very stressed, couldn't sleep",
                label_fa: "خیلی استرس داشتم، شب\u{200c}ها خوابم نمی\u{200c}برد",
            },
            QuestionOption {
                id: "past_worried",
                index: 1,
                score: 4,
                flag: None,
                horizon_cap: None,
                label_en: "Worried but managed",
                label_fa: "نگران بودم ولی دووم آوردم",
            },
            QuestionOption {
                id: "past_calm",
                index: 2,
                score: 7,
                flag: None,
                horizon_cap: None,
                label_en: "Relatively calm",
                label_fa: "نسبتاً آروم بودم",
            },
            QuestionOption {
                id: "past_none",
                index: 3,
                score: 5,
                flag: Some(Flag::Inexperienced),
                horizon_cap: None,
                label_en: "No experience",
                label_fa: "تجربه\u{200c}ای ندارم",
            },
        ],
    },
    Question {
        id: QuestionId::MaxLoss,
        block: &BLOCK_BEHAVIOR,
        dimension: Dimension::Willingness,
        weight: dec!(1.5),
        text_en: "What's the maximum drop you can tolerate without selling?",
        text_fa: "حداکثر چند درصد افت رو می\u{200c}تونی تحمل کنی بدون اینکه بفروشی؟",
        options: [
            QuestionOption {
                id: "loss_5",
                index: 0,
                score: 1,
                flag: None,
                horizon_cap: None,
                label_en: "5% — no more than this",
                label_fa: "۵٪ — بیشتر از این نه",
            },
            QuestionOption {
                id: "loss_15",
                index: 1,
                score: 4,
                flag: None,
                horizon_cap: None,
                label_en: "15% — hurts but OK",
                label_fa: "۱۵٪ — یه کم درد داره ولی اوکیه",
            },
            QuestionOption {
                id: "loss_30",
                index: 2,
                score: 7,
                flag: None,
                horizon_cap: None,
                label_en: "30% — tough but I'll wait",
                label_fa: "۳۰٪ — سخته ولی صبر می\u{200c}کنم",
            },
            QuestionOption {
                id: "loss_50",
                index: 3,
                score: 10,
                flag: Some(Flag::CheckCapacity),
                horizon_cap: None,
                label_en: "50%+ — I think long-term",
                label_fa: "۵۰٪ یا بیشتر — بلندمدت فکر می\u{200c}کنم",
            },
        ],
    },
];

// ---------------------------------------------------------------------------------------------
// Public view (GET /onboarding/questions)
// ---------------------------------------------------------------------------------------------

/// Body of `GET /onboarding/questions` (api.md §5): texts and option order only. Scores,
/// weights, flags and caps stay on the server (D5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuestionnaireView {
    /// Choice: the questionnaire version (`v10.1`), the same tag stored with every score, rather
    /// than the `2026-01` placeholder of api.md's example, so a client can tell which questions a
    /// stored score came from.
    pub version: &'static str,
    pub questions: Vec<QuestionView>,
}

/// One question of [`QuestionnaireView`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuestionView {
    #[schema(value_type = String)]
    pub id: QuestionId,
    pub dimension: Dimension,
    /// Persian text: the questionnaire is presented in Farsi.
    pub question: &'static str,
    pub question_en: &'static str,
    pub options: Vec<OptionView>,
}

/// One option of [`QuestionView`], identified only by `option_<index>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptionView {
    pub id: String,
    /// Persian label.
    pub label: &'static str,
    pub label_en: &'static str,
}

/// The questionnaire as served to clients.
pub fn questionnaire_view() -> QuestionnaireView {
    QuestionnaireView {
        version: QUESTIONNAIRE_VERSION,
        questions: QUESTIONS
            .iter()
            .map(|question| QuestionView {
                id: question.id,
                dimension: question.dimension,
                question: question.text_fa,
                question_en: question.text_en,
                options: question
                    .options
                    .iter()
                    .map(|option| OptionView {
                        id: option.wire_id(),
                        label: option.label_fa,
                        label_en: option.label_en,
                    })
                    .collect(),
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// One item of the `answers` array as clients send it (§1.3): `{questionId, optionId}` or the
/// app's `{questionId, answerId, value, flag}`. Unknown fields, and so `value` and `flag`, are
/// dropped by deserialization: the server scores from option identity only (D5).
///
/// Every field is optional here so that a missing field becomes a `VALIDATION_ERROR` naming
/// it, rather than a generic deserialization failure.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerItem {
    pub question_id: Option<String>,
    pub option_id: Option<String>,
    pub answer_id: Option<String>,
}

impl AnswerItem {
    /// The `{questionId, optionId}` form.
    pub fn new(question_id: impl Into<String>, option_id: impl Into<String>) -> AnswerItem {
        AnswerItem {
            question_id: Some(question_id.into()),
            option_id: Some(option_id.into()),
            answer_id: None,
        }
    }
}

/// A complete, validated answer set: exactly one option for each of the nine questions.
/// Cheap to copy; it holds option indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Answers([u8; 9]);

impl Answers {
    /// Builds an answer set from option indices in question order; `None` when an index is
    /// outside 0–3.
    pub fn from_indices(indices: [u8; 9]) -> Option<Answers> {
        indices.iter().all(|&i| i < 4).then_some(Answers(indices))
    }

    /// Option indices in question order.
    pub fn indices(&self) -> [u8; 9] {
        self.0
    }

    /// The chosen option of one question.
    pub fn option(&self, question: QuestionId) -> &'static QuestionOption {
        &question.question().options[usize::from(self.0[question.index()])]
    }

    /// The answers in the stored form `[{questionId, optionId}]` (§1.6), with the file's option
    /// ids; [`parse_answers`] reads this form back.
    pub fn records(&self) -> Vec<AnswerRecord> {
        QuestionId::ALL
            .into_iter()
            .map(|question| AnswerRecord {
                question_id: question.as_str(),
                option_id: self.option(question).id,
            })
            .collect()
    }
}

/// One stored answer: `{questionId, optionId}` with the file's option id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerRecord {
    pub question_id: &'static str,
    pub option_id: &'static str,
}

/// One problem found in the answers, in the `details.fields` shape of api.md §1.8.
#[derive(Debug)]
struct Problem {
    field: String,
    message: String,
}

/// Validates the submitted answers (§1.3, D5) and resolves each to an option of the server's
/// questionnaire.
///
/// Every problem is reported at once in `details.fields` (field paths such as
/// `answers[2].optionId`), so a client fixes them in one round trip; missing questions are also
/// listed in `details.missingQuestions`. A question whose item names an unrecognised option
/// still counts as answered, so it is not reported a second time as missing.
pub fn parse_answers(items: &[AnswerItem]) -> RuleResult<Answers> {
    let mut problems = Vec::new();
    let mut chosen: [Option<u8>; 9] = [None; 9];
    let mut seen = [false; 9];

    if items.len() != QUESTIONS.len() {
        problems.push(Problem {
            field: "answers".to_owned(),
            message: format!(
                "expected exactly {} answers, one per question; received {}",
                QUESTIONS.len(),
                items.len()
            ),
        });
    }

    for (position, item) in items.iter().enumerate() {
        let at = format!("answers[{position}]");
        let Some(question_text) = item.question_id.as_deref() else {
            problems.push(Problem {
                field: format!("{at}.questionId"),
                message: "is required".to_owned(),
            });
            continue;
        };
        let Some(question) = QuestionId::parse(question_text) else {
            problems.push(Problem {
                field: format!("{at}.questionId"),
                message: format!(
                    "'{question_text}' is not a question of questionnaire {QUESTIONNAIRE_VERSION}"
                ),
            });
            continue;
        };
        if seen[question.index()] {
            problems.push(Problem {
                field: format!("{at}.questionId"),
                message: format!("{question} is answered more than once"),
            });
            continue;
        }
        seen[question.index()] = true;
        if let Some(option) = resolve_option(question, item, &at, &mut problems) {
            chosen[question.index()] = Some(option.index);
        }
    }

    let missing: Vec<&'static str> = QuestionId::ALL
        .into_iter()
        .filter(|q| !seen[q.index()])
        .map(QuestionId::as_str)
        .collect();
    if !missing.is_empty() {
        problems.push(Problem {
            field: "answers".to_owned(),
            message: format!("missing answers for {}", missing.join(", ")),
        });
    }

    if problems.is_empty() {
        let mut indices = [0u8; 9];
        for (slot, choice) in indices.iter_mut().zip(chosen) {
            // Every question is seen exactly once and without problems, so every slot is set.
            *slot = choice.unwrap_or_default();
        }
        return Ok(Answers(indices));
    }
    Err(validation_error(&problems, &missing))
}

/// Resolves `optionId` / `answerId` of one item, recording any problem.
fn resolve_option(
    question: QuestionId,
    item: &AnswerItem,
    at: &str,
    problems: &mut Vec<Problem>,
) -> Option<&'static QuestionOption> {
    let data = question.question();
    let mut lookup =
        |field: &str, text: Option<&str>| -> Result<Option<&'static QuestionOption>, ()> {
            let Some(text) = text else { return Ok(None) };
            match data.find_option(text) {
                Some(option) => Ok(Some(option)),
                None => {
                    problems.push(Problem {
                        field: format!("{at}.{field}"),
                        message: format!("'{text}' is not an option of {question}"),
                    });
                    Err(())
                }
            }
        };
    let by_option_id = lookup("optionId", item.option_id.as_deref());
    let by_answer_id = lookup("answerId", item.answer_id.as_deref());
    match (by_option_id, by_answer_id) {
        (Ok(None), Ok(None)) => {
            problems.push(Problem {
                field: format!("{at}.optionId"),
                message: "is required (optionId or answerId)".to_owned(),
            });
            None
        }
        (Ok(Some(a)), Ok(Some(b))) if a.index != b.index => {
            problems.push(Problem {
                field: at.to_owned(),
                message: format!(
                    "optionId and answerId name different options ({} and {})",
                    a.id, b.id
                ),
            });
            None
        }
        (Ok(Some(option)), Ok(_)) | (Ok(None), Ok(Some(option))) => Some(option),
        _ => None,
    }
}

fn validation_error(problems: &[Problem], missing: &[&'static str]) -> RuleViolation {
    let first = &problems[0];
    let mut message = format!("{} {}", first.field, first.message);
    if problems.len() > 1 {
        let more = problems.len() - 1;
        let noun = if more == 1 { "problem" } else { "problems" };
        message.push_str(&format!(" (and {more} more {noun})"));
    }
    let fields: Vec<_> = problems
        .iter()
        .map(|p| json!({ "field": p.field, "message": p.message }))
        .collect();
    let mut violation =
        RuleViolation::new(ErrorCode::ValidationError, message).with("fields", fields);
    if !missing.is_empty() {
        violation = violation.with("missingQuestions", missing);
    }
    violation
}

#[cfg(test)]
mod tests;
