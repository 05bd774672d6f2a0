//! Policies: the rules `affinity-audit check` holds an audit to.
//!
//! A policy is TOML. Per application family (`owa` with ECP, `owa_logon`, `ews`, `activesync`,
//! `outlook_anywhere`, `mapi`, `powershell`, `autodiscover`, `oab`, `other`, `tls`), a table
//! `[apps.<family>]` with any of:
//! - `min_sessions`: at least this many sessions (a fixture that lost its traffic fails);
//! - `min_sticky_share`: of the sessions that could move (sticky or moved), at least this share
//!   sticky;
//! - `max_unexplained_moves`: moves with no failover or drain to explain them;
//! - `max_failure_sessions`: sessions whose unexplained moves break an affinity-required
//!   application.
//!
//! Farm-wide, a table `[farm]` with any of:
//! - `max_hotspots`: client addresses flagged as NAT hot-spots;
//! - `max_server_share_from_one_client`: largest share of one server's transactions from one
//!   client address;
//! - `max_server_share`: largest share of all transactions on one server;
//! - `max_split_oa_pairs`: Outlook Anywhere channel pairs whose channels reached two servers;
//! - `min_identified_share`: share of user transactions and TLS connections whose server the
//!   capture shows.
//!
//! Of the capture itself, a table `[capture]` with any of (a fixture's capture should be whole:
//! what is missing or misdated proves less):
//! - `max_damage_notes`: damage found in the capture files;
//! - `max_packets_cut`: packets cut by the snap length;
//! - `max_clock_steps_back`: places where the capture's timestamps step back.
//!
//! Unknown names are errors, so that a misspelt rule cannot pass silently.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{AppFamily, AuditSummary};

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRules {
    pub min_sessions: Option<u64>,
    pub min_sticky_share: Option<f64>,
    pub max_unexplained_moves: Option<u64>,
    pub max_failure_sessions: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FarmRules {
    pub max_hotspots: Option<u64>,
    pub max_server_share_from_one_client: Option<f64>,
    pub max_server_share: Option<f64>,
    pub max_split_oa_pairs: Option<u64>,
    pub min_identified_share: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureRules {
    pub max_damage_notes: Option<u64>,
    pub max_packets_cut: Option<u64>,
    pub max_clock_steps_back: Option<u64>,
}

/// What the capture stage found of the capture's own quality, for the `[capture]` rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureFacts {
    pub damage_notes: u64,
    pub packets_cut: u64,
    pub clock_steps_back: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub apps: BTreeMap<String, AppRules>,
    #[serde(default)]
    pub farm: FarmRules,
    #[serde(default)]
    pub capture: CaptureRules,
}

impl Policy {
    /// Parses a policy; the error says what is wrong and where.
    pub fn parse(text: &str) -> Result<Self, String> {
        let policy: Policy = toml::from_str(text).map_err(|e| e.to_string())?;
        for name in policy.apps.keys() {
            if family(name).is_none() {
                let known: Vec<&str> = AppFamily::ALL.iter().map(|f| f.as_str()).collect();
                return Err(format!("unknown application `{name}` (one of {})", known.join(", ")));
            }
        }
        Ok(policy)
    }

    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Every rule the capture and the audit break, in words; empty when the policy holds.
    pub fn violations(&self, audit: &AuditSummary, capture: &CaptureFacts) -> Vec<String> {
        let mut out = Vec::new();
        let rules = &self.capture;
        at_most(&mut out, "capture: damage notes".to_owned(), capture.damage_notes, rules.max_damage_notes);
        at_most(&mut out, "capture: packets cut by the snap length".to_owned(), capture.packets_cut, rules.max_packets_cut);
        at_most(&mut out, "capture: clock steps back".to_owned(), capture.clock_steps_back, rules.max_clock_steps_back);
        for (name, rules) in &self.apps {
            let Some(family) = family(name) else { continue };
            let app = audit.apps.get(&family).cloned().unwrap_or_default();
            at_least(&mut out, format!("{name}: sessions"), app.sessions, rules.min_sessions);
            if let (Some(min), Some(share)) = (rules.min_sticky_share, app.sticky_share()) {
                if share < min {
                    out.push(format!(
                        "{name}: {:.1}% of sessions sticky ({} of {}), policy wants at least {:.1}%",
                        share * 100.0,
                        app.sticky,
                        app.sticky + app.moved,
                        min * 100.0
                    ));
                }
            }
            at_most(&mut out, format!("{name}: unexplained moves"), app.unexplained_moves, rules.max_unexplained_moves);
            at_most(&mut out, format!("{name}: sessions failing affinity"), app.failure_sessions, rules.max_failure_sessions);
        }
        let farm = &self.farm;
        at_most(&mut out, "farm: NAT hot-spots".to_owned(), audit.hotspots, farm.max_hotspots);
        at_most(&mut out, "farm: Outlook Anywhere pairs split over two servers".to_owned(), audit.oa_split_pairs, farm.max_split_oa_pairs);
        if let (Some(max), Some((client, server, share))) = (farm.max_server_share_from_one_client, &audit.max_client_share) {
            if share > &max {
                out.push(format!(
                    "farm: {client} sends {:.1}% of {server}'s transactions, policy allows at most {:.1}%",
                    share * 100.0,
                    max * 100.0
                ));
            }
        }
        if let (Some(max), Some(busiest)) = (farm.max_server_share, audit.servers.iter().max_by(|a, b| a.share.total_cmp(&b.share))) {
            if busiest.share > max {
                out.push(format!(
                    "farm: {} takes {:.1}% of all transactions, policy allows at most {:.1}%",
                    busiest.name,
                    busiest.share * 100.0,
                    max * 100.0
                ));
            }
        }
        if let Some(min) = farm.min_identified_share {
            let total: u64 = audit.server_sources.values().sum();
            let unresolved = audit.server_sources.get("unresolved").copied().unwrap_or(0);
            if total > 0 {
                let share = (total - unresolved) as f64 / total as f64;
                if share < min {
                    out.push(format!(
                        "farm: the server of {:.1}% of transactions is known ({unresolved} of {total} unresolved), policy wants at least {:.1}%",
                        share * 100.0,
                        min * 100.0
                    ));
                }
            }
        }
        out
    }
}

fn family(name: &str) -> Option<AppFamily> {
    AppFamily::ALL.into_iter().find(|f| f.as_str() == name)
}

fn at_least(out: &mut Vec<String>, what: String, value: u64, min: Option<u64>) {
    if let Some(min) = min.filter(|&m| value < m) {
        out.push(format!("{what}: {value}, policy wants at least {min}"));
    }
}

fn at_most(out: &mut Vec<String>, what: String, value: u64, max: Option<u64>) {
    if let Some(max) = max.filter(|&m| value > m) {
        out.push(format!("{what}: {value}, policy allows at most {max}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AppSummary, ServerSummary};

    fn audit() -> AuditSummary {
        let mut audit = AuditSummary::default();
        audit.apps.insert(AppFamily::Owa, AppSummary { sessions: 10, sticky: 8, moved: 2, unexplained_moves: 3, failure_sessions: 2, ..AppSummary::default() });
        audit.hotspots = 1;
        audit.oa_split_pairs = 2;
        audit.max_client_share = Some(("192.0.2.1".into(), "CAS02".into(), 0.9));
        audit.servers = vec![ServerSummary { name: "CAS02".into(), transactions: 60, share: 0.6, sessions: 5, failures: 0, probes: 0, probes_failed: 0, drained_from: None }];
        audit.server_sources.insert("header", 90);
        audit.server_sources.insert("unresolved", 10);
        audit
    }

    #[test]
    fn every_rule_reports_what_it_found() {
        let policy = Policy::parse(
            r#"
            [apps.owa]
            min_sessions = 11
            min_sticky_share = 0.99
            max_unexplained_moves = 0
            max_failure_sessions = 0
            [apps.ews]
            min_sessions = 1
            [farm]
            max_hotspots = 0
            max_server_share_from_one_client = 0.5
            max_server_share = 0.5
            max_split_oa_pairs = 0
            min_identified_share = 0.95
            [capture]
            max_damage_notes = 0
            max_packets_cut = 10
            max_clock_steps_back = 0
            "#,
        )
        .unwrap();
        let capture = CaptureFacts { damage_notes: 1, packets_cut: 10, clock_steps_back: 2 };
        assert_eq!(
            policy.violations(&audit(), &capture),
            vec![
                "capture: damage notes: 1, policy allows at most 0",
                "capture: clock steps back: 2, policy allows at most 0",
                "ews: sessions: 0, policy wants at least 1",
                "owa: sessions: 10, policy wants at least 11",
                "owa: 80.0% of sessions sticky (8 of 10), policy wants at least 99.0%",
                "owa: unexplained moves: 3, policy allows at most 0",
                "owa: sessions failing affinity: 2, policy allows at most 0",
                "farm: NAT hot-spots: 1, policy allows at most 0",
                "farm: Outlook Anywhere pairs split over two servers: 2, policy allows at most 0",
                "farm: 192.0.2.1 sends 90.0% of CAS02's transactions, policy allows at most 50.0%",
                "farm: CAS02 takes 60.0% of all transactions, policy allows at most 50.0%",
                "farm: the server of 90.0% of transactions is known (10 of 100 unresolved), policy wants at least 95.0%",
            ]
        );
        let lenient = Policy::parse("[apps.owa]\nmin_sticky_share = 0.8\nmax_unexplained_moves = 3\n[farm]\nmax_hotspots = 1\n").unwrap();
        assert!(lenient.violations(&audit(), &capture).is_empty(), "no [capture] table, no capture rule");
        // No rule on an application absent from the capture fails, but min_sessions.
        assert!(Policy::parse("[apps.mapi]\nmin_sticky_share = 1.0\n").unwrap().violations(&audit(), &CaptureFacts::default()).is_empty());
    }

    #[test]
    fn mistakes_are_errors() {
        assert!(Policy::parse("[apps.owa]\nmin_sticky = 0.9\n").unwrap_err().contains("unknown field"));
        assert!(Policy::parse("[apps.webmail]\nmin_sessions = 1\n").unwrap_err().starts_with("unknown application `webmail`"));
        assert!(Policy::parse("[farm]\nmax_hotspots = \"none\"\n").is_err());
        assert!(Policy::parse("[sessions]\n").is_err());
        assert!(Policy::parse("[capture]\nmax_truncated = 0\n").unwrap_err().contains("unknown field"));
        assert_eq!(Policy::parse("").unwrap(), Policy::default());
    }
}
