//! The analysis engine on a collected database: the spike episodes it finds are the simulator's
//! planted ones, and the budget timeline counts every stored request.

use crate::support::{ACME_ORG, acme_week_config, collect_acme_range, serve, time};
use callbudget_analysis::{
    AnalysisWindow, ConsumerKey, SpikeOptions, budget_timeline, detect_spikes, load_request_log,
};
use callbudget_api::budget::BudgetModel;
use callbudget_store::{OrgId, Store};
use chrono::TimeDelta;

#[test]
fn spike_episodes_match_the_simulators_ground_truth_on_acme_week() {
    let handle = serve(acme_week_config("2026-11-20T00:00:00Z"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("cb.db");
    let (since, until) = (time("2026-11-19T06:00:00Z"), time("2026-11-19T12:00:00Z"));
    collect_acme_range(&handle, &db, since, until);

    let store = Store::open(&db).expect("the database opens");
    let org = OrgId::new(ACME_ORG);
    let window = AnalysisWindow::new(since, until).expect("a valid window");
    let log = load_request_log(&store, &org, &window).expect("the log loads");

    let timeline = budget_timeline(&log, &window, &BudgetModel::meraki()).expect("a timeline");
    let stored = crate::support::stored_request_count(&db, ACME_ORG, since, until);
    assert_eq!(timeline.total_requests, stored);
    assert!(
        timeline.seconds_at_or_over_limit > 0,
        "the 09:00 burst saturates the budget"
    );

    let episodes = detect_spikes(
        &log,
        &window,
        &SpikeOptions::default(),
        ConsumerKey::UserAgent,
    )
    .expect("spikes");
    let truth = handle.simulator().ground_truth();
    let org_truth = truth
        .organizations
        .iter()
        .find(|o| o.org_id == ACME_ORG)
        .expect("acme-week's organization has a ground truth");
    let planted: Vec<_> = org_truth
        .episodes
        .iter()
        .filter(|e| e.start >= since && e.end <= until)
        .collect();
    assert!(
        !planted.is_empty(),
        "acme-week has episodes between 06:00 and 12:00"
    );
    assert_eq!(
        episodes.len(),
        planted.len(),
        "found {episodes:#?}\nplanted {planted:#?}"
    );
    let one_interval = TimeDelta::minutes(1);
    for (found, planted) in episodes.iter().zip(&planted) {
        assert!(
            (found.start - planted.start).abs() <= one_interval
                && (found.end - planted.end).abs() <= one_interval,
            "found {found:#?}\nplanted {planted:#?}"
        );
        let refused_most = org_truth
            .consumers
            .iter()
            .find(|c| c.name == planted.most_refused)
            .map(|c| c.user_agent.as_str());
        assert_eq!(
            found
                .most_refused
                .first()
                .and_then(|c| c.user_agent.as_deref()),
            refused_most,
            "the consumer refused most in {found:#?}"
        );
    }
}
