//! Unit tests of the questionnaire (business-rules §1.1–1.3, §1.7, D5; api.md §5): the product
//! data and its public view, answer parsing in every accepted form, refusals and the consent copy.

use super::*;

fn items(ids: [&str; 9]) -> Vec<AnswerItem> {
    QuestionId::ALL
        .iter()
        .zip(ids)
        .map(|(q, o)| AnswerItem::new(q.as_str(), o))
        .collect()
}

const S1: [&str; 9] = [
    "inc_fixed",
    "buf_6_12",
    "prop_medium",
    "goal_grow",
    "hz_3_7",
    "crash_hold",
    "trade_moderate",
    "past_calm",
    "loss_15",
];

fn fields(violation: &RuleViolation) -> Vec<(String, String)> {
    violation.details["fields"]
        .as_array()
        .expect("fields is a list")
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap_or_default().to_owned(),
                f["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn rejected(items: &[AnswerItem]) -> RuleViolation {
    let violation = parse_answers(items).expect_err("answers must be refused");
    assert_eq!(violation.code, ErrorCode::ValidationError);
    violation
}

#[test]
fn the_questionnaire_has_nine_questions_in_presentation_order() {
    let ids: Vec<&str> = QUESTIONS.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "q_income",
            "q_buffer",
            "q_proportion",
            "q_goal",
            "q_horizon",
            "q_crash_20",
            "q_tradeoff",
            "q_past_behavior",
            "q_max_loss"
        ]
    );
    for (position, question) in QUESTIONS.iter().enumerate() {
        assert_eq!(question.id.index(), position);
        for (index, option) in question.options.iter().enumerate() {
            assert_eq!(usize::from(option.index), index, "{}", option.id);
        }
    }
}

#[test]
fn dimension_weights_sum_to_three_and_a_half_for_capacity_and_six_for_willingness() {
    let sum = |d: Dimension| -> Decimal {
        QUESTIONS
            .iter()
            .filter(|q| q.dimension == d)
            .map(|q| q.weight)
            .sum()
    };
    for question in &QUESTIONS {
        // The scorer works in tenths of a weight (risk.rs), so one decimal place at most.
        assert!(
            (question.weight * dec!(10)).fract().is_zero(),
            "{}",
            question.id
        );
    }
    assert_eq!(sum(Dimension::Capacity), dec!(3.5));
    assert_eq!(sum(Dimension::Willingness), dec!(6.0));
    assert_eq!(sum(Dimension::Horizon), dec!(1.0));
    assert_eq!(sum(Dimension::Goal), dec!(1.0));
}

#[test]
fn blocks_group_the_questions_as_in_section_1_1() {
    let block = |q: QuestionId| q.question().block.id;
    assert_eq!(block(QuestionId::Proportion), "block_capacity");
    assert_eq!(block(QuestionId::Horizon), "block_goals");
    assert_eq!(block(QuestionId::Goal), "block_goals");
    assert_eq!(block(QuestionId::MaxLoss), "block_behavior");
    assert_eq!(BLOCK_GOALS.title_fa, "اهداف شما");
}

#[test]
fn only_the_two_short_horizon_options_carry_a_cap() {
    let caps: Vec<(&str, u8)> = QUESTIONS
        .iter()
        .flat_map(|q| q.options.iter())
        .filter_map(|o| o.horizon_cap.map(|cap| (o.id, cap)))
        .collect();
    assert_eq!(caps, [("hz_1year", 3), ("hz_1_3", 5)]);
}

#[test]
fn flags_sit_on_the_options_of_section_1_2() {
    let flagged: Vec<(&str, &str)> = QUESTIONS
        .iter()
        .flat_map(|q| q.options.iter())
        .filter_map(|o| o.flag.map(|f| (o.id, f.as_str())))
        .collect();
    assert_eq!(
        flagged,
        [
            ("prop_most", "high_proportion"),
            ("crash_sell_all", "panic_seller"),
            ("crash_buy", "check_capacity"),
            ("trade_yolo", "gambler"),
            ("past_none", "inexperienced"),
            ("loss_50", "check_capacity"),
        ]
    );
}

#[test]
fn persian_texts_keep_their_zero_width_non_joiners() {
    assert_eq!(
        QuestionId::Income.question().text_fa,
        "درآمدت چقدر قابل پیش\u{200c}بینیه؟"
    );
    assert_eq!(
        QuestionId::PastBehavior.question().options[3].label_fa,
        "تجربه\u{200c}ای ندارم"
    );
}

#[test]
fn the_public_view_exposes_texts_but_no_scores_weights_or_flags() {
    let json = serde_json::to_value(questionnaire_view()).unwrap();
    assert_eq!(json["version"], "v10.1");
    let questions = json["questions"].as_array().unwrap();
    assert_eq!(questions.len(), 9);
    assert_eq!(
        questions[0],
        json!({
            "id": "q_income",
            "dimension": "CAPACITY",
            "question": "درآمدت چقدر قابل پیش\u{200c}بینیه؟",
            "questionEn": "How predictable is your income?",
            "options": [
                {"id": "option_0", "label": "ثابت و مطمئن (حقوق، مستمری)",
                 "labelEn": "Fixed and reliable (salary, pension)"},
                {"id": "option_1", "label": "تقریباً ثابت با کمی نوسان",
                 "labelEn": "Mostly stable with some variation"},
                {"id": "option_2", "label": "متغیر (فریلنس، کسب\u{200c}وکار)",
                 "labelEn": "Variable (freelance, business)"},
                {"id": "option_3", "label": "نامشخص یا بی\u{200c}کار",
                 "labelEn": "Uncertain or unemployed"},
            ]
        })
    );
    assert_eq!(questions[5]["dimension"], "WILLINGNESS");
    assert_eq!(questions[4]["dimension"], "HORIZON");
    assert_eq!(questions[3]["dimension"], "GOAL");
    let text = json.to_string();
    for secret in ["score", "weight", "flag", "panic_seller", "inc_fixed"] {
        assert!(!text.contains(secret), "view leaks {secret}");
    }
}

#[test]
fn option_ids_and_index_forms_resolve_to_the_same_option() {
    let q = QuestionId::Crash20.question();
    assert_eq!(q.find_option("crash_hold").unwrap().index, 2);
    assert_eq!(q.find_option("CRASH_HOLD").unwrap().index, 2);
    assert_eq!(q.find_option("option_2").unwrap().id, "crash_hold");
    for refused in [
        "option_4",
        "option_-1",
        "option_01",
        "option_",
        "inc_fixed",
        "",
    ] {
        assert!(q.find_option(refused).is_none(), "{refused}");
    }
}

#[test]
fn a_complete_answer_set_parses_to_the_chosen_options() {
    let answers = parse_answers(&items(S1)).unwrap();
    assert_eq!(answers.indices(), [0, 1, 1, 2, 2, 2, 1, 2, 1]);
    assert_eq!(answers.option(QuestionId::MaxLoss).id, "loss_15");
}

#[test]
fn items_may_arrive_in_any_order() {
    let mut list = items(S1);
    list.reverse();
    assert_eq!(
        parse_answers(&list).unwrap(),
        parse_answers(&items(S1)).unwrap()
    );
}

#[test]
fn the_mobile_form_is_accepted_and_its_value_and_flag_are_ignored() {
    let mut list = items(S1);
    // The app claims panic_seller and a value of 7 for option_2 of q_crash_20 (crash_hold);
    // only the option's identity counts.
    list[5] = serde_json::from_value(json!({
        "questionId": "q_crash_20", "answerId": "option_2", "value": 7, "flag": "x"
    }))
    .unwrap();
    list[0] = serde_json::from_value(json!({
        "questionId": "q_income", "answerId": "option_0", "value": 1, "flag": "panic_seller"
    }))
    .unwrap();
    let answers = parse_answers(&list).unwrap();
    assert_eq!(answers, parse_answers(&items(S1)).unwrap());
    assert_eq!(answers.option(QuestionId::Crash20).id, "crash_hold");
    assert_eq!(answers.option(QuestionId::Crash20).flag, None);
}

#[test]
fn option_id_may_also_use_the_index_form_and_both_ids_may_agree() {
    let mut list = items(S1);
    list[0].option_id = Some("option_0".to_owned());
    list[1].answer_id = Some("option_1".to_owned()); // agrees with buf_6_12
    assert_eq!(
        parse_answers(&list).unwrap(),
        parse_answers(&items(S1)).unwrap()
    );
}

#[test]
fn stored_records_parse_back_to_the_same_answers() {
    let answers = parse_answers(&items(S1)).unwrap();
    let json = serde_json::to_value(answers.records()).unwrap();
    assert_eq!(
        json[0],
        json!({"questionId": "q_income", "optionId": "inc_fixed"})
    );
    let back: Vec<AnswerItem> = serde_json::from_value(json).unwrap();
    assert_eq!(parse_answers(&back).unwrap(), answers);
}

#[test]
fn from_indices_refuses_an_index_outside_zero_to_three() {
    assert!(Answers::from_indices([0, 0, 0, 0, 0, 0, 0, 0, 3]).is_some());
    assert!(Answers::from_indices([0, 0, 0, 0, 4, 0, 0, 0, 0]).is_none());
}

#[test]
fn an_unknown_question_is_refused_naming_the_item() {
    let mut list = items(S1);
    list[2].question_id = Some("q_wealth".to_owned());
    let violation = rejected(&list);
    let fields = fields(&violation);
    assert!(fields.contains(&(
        "answers[2].questionId".to_owned(),
        "'q_wealth' is not a question of questionnaire v10.1".to_owned()
    )));
    // q_proportion is then unanswered.
    assert_eq!(
        violation.details["missingQuestions"],
        json!(["q_proportion"])
    );
}

#[test]
fn an_unknown_option_is_refused_including_an_index_outside_zero_to_three() {
    for bad in ["prop_huge", "option_4", "inc_fixed"] {
        let mut list = items(S1);
        list[2].option_id = Some(bad.to_owned());
        let violation = rejected(&list);
        assert_eq!(
            fields(&violation),
            [(
                "answers[2].optionId".to_owned(),
                format!("'{bad}' is not an option of q_proportion")
            )]
        );
        assert!(violation.details.get("missingQuestions").is_none());
    }
    let mut list = items(S1);
    list[6] = AnswerItem {
        question_id: Some("q_tradeoff".to_owned()),
        option_id: None,
        answer_id: Some("option_9".to_owned()),
    };
    assert_eq!(fields(&rejected(&list))[0].0, "answers[6].answerId");
}

#[test]
fn disagreeing_option_id_and_answer_id_are_refused() {
    let mut list = items(S1);
    list[0].answer_id = Some("option_3".to_owned());
    let violation = rejected(&list);
    assert_eq!(
        fields(&violation),
        [(
            "answers[0]".to_owned(),
            "optionId and answerId name different options (inc_fixed and inc_uncertain)".to_owned()
        )]
    );
}

#[test]
fn an_item_without_any_option_is_refused() {
    let mut list = items(S1);
    list[4].option_id = None;
    let violation = rejected(&list);
    assert_eq!(
        fields(&violation),
        [(
            "answers[4].optionId".to_owned(),
            "is required (optionId or answerId)".to_owned()
        )]
    );
}

#[test]
fn an_item_without_a_question_id_is_refused() {
    let mut list = items(S1);
    list[4].question_id = None;
    let fields = fields(&rejected(&list));
    assert_eq!(
        fields[0],
        ("answers[4].questionId".to_owned(), "is required".to_owned())
    );
}

#[test]
fn a_question_answered_twice_is_refused_and_the_missing_one_listed() {
    let mut list = items(S1);
    list[8] = AnswerItem::new("q_income", "inc_mostly");
    let violation = rejected(&list);
    assert_eq!(
        fields(&violation),
        [
            (
                "answers[8].questionId".to_owned(),
                "q_income is answered more than once".to_owned()
            ),
            (
                "answers".to_owned(),
                "missing answers for q_max_loss".to_owned()
            ),
        ]
    );
    assert_eq!(
        violation.message,
        "answers[8].questionId q_income is answered more than once (and 1 more problem)"
    );
}

#[test]
fn missing_questions_are_listed_and_the_count_is_refused() {
    let list = items(S1)[..6].to_vec();
    let violation = rejected(&list);
    assert_eq!(
        fields(&violation),
        [
            (
                "answers".to_owned(),
                "expected exactly 9 answers, one per question; received 6".to_owned()
            ),
            (
                "answers".to_owned(),
                "missing answers for q_tradeoff, q_past_behavior, q_max_loss".to_owned()
            ),
        ]
    );
    assert_eq!(
        violation.details["missingQuestions"],
        json!(["q_tradeoff", "q_past_behavior", "q_max_loss"])
    );
}

#[test]
fn more_than_nine_items_are_refused_even_when_every_question_is_present() {
    let mut list = items(S1);
    list.push(AnswerItem::new("q_goal", "goal_grow"));
    let fields = fields(&rejected(&list));
    assert_eq!(
        fields[0].1,
        "expected exactly 9 answers, one per question; received 10"
    );
    assert_eq!(fields[1].0, "answers[9].questionId");
    assert!(parse_answers(&[]).is_err());
}

#[test]
fn validation_messages_follow_the_communication_doctrine() {
    const FORBIDDEN: [&str; 6] = [
        "now",
        "token",
        "unauthorized",
        "401",
        "you must",
        "you need to",
    ];
    let mut cases: Vec<Vec<AnswerItem>> = Vec::new();
    let mut list = items(S1);
    list[0].question_id = Some("q_x".to_owned());
    cases.push(list);
    let mut list = items(S1);
    list[1].option_id = Some("nope".to_owned());
    list[2].answer_id = Some("option_3".to_owned());
    list[3].option_id = None;
    cases.push(list);
    cases.push(items(S1)[..3].to_vec());
    for case in cases {
        let violation = rejected(&case);
        let mut texts = vec![violation.message.to_lowercase()];
        texts.extend(
            fields(&violation)
                .into_iter()
                .map(|(_, m)| m.to_lowercase()),
        );
        for text in texts {
            for word in FORBIDDEN {
                assert!(!text.contains(word), "{text:?} contains {word:?}");
            }
        }
    }
}

#[test]
fn consent_copy_matches_section_1_7() {
    assert_eq!(
        CONSENT_FA,
        "متوجه ریسک این سبد دارایی شدم و باهاش موافق هستم."
    );
    assert_eq!(
        CONSENT_EN,
        "I understand the risk of this portfolio and I agree with it."
    );
}
