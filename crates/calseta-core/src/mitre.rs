//! MITRE ATT&CK vocabulary: the enterprise tactics by ID and name, and how a tactic or technique
//! a caller names is compared with the spelling a detection rule stores (sources write
//! `CredentialAccess`, `credential-access`, `Credential Access` or `TA0006` for the same tactic).

/// The 14 enterprise tactics, `(ID, name)`, in the matrix's order.
pub const TACTICS: [(&str, &str); 14] = [
    ("TA0043", "Reconnaissance"),
    ("TA0042", "Resource Development"),
    ("TA0001", "Initial Access"),
    ("TA0002", "Execution"),
    ("TA0003", "Persistence"),
    ("TA0004", "Privilege Escalation"),
    ("TA0005", "Defense Evasion"),
    ("TA0006", "Credential Access"),
    ("TA0007", "Discovery"),
    ("TA0008", "Lateral Movement"),
    ("TA0009", "Collection"),
    ("TA0011", "Command and Control"),
    ("TA0010", "Exfiltration"),
    ("TA0040", "Impact"),
];

/// The characters a tactic's spellings differ by besides case: spaces, hyphens, underscores.
pub const FOLDED_OUT: [char; 3] = [' ', '-', '_'];

/// `text` compared as a tactic: ASCII lower case without spaces, hyphens or underscores
/// (`Credential Access`, `credential-access`, `CREDENTIAL_ACCESS` and `CredentialAccess` all
/// fold to `credentialaccess`). Storage folds the stored spelling the same way.
pub fn fold_tactic(text: &str) -> String {
    text.chars().filter(|c| !FOLDED_OUT.contains(c)).collect::<String>().to_ascii_lowercase()
}

/// The tactic `text` names by ID or by name in any case and spacing, as `(ID, name)`.
pub fn tactic(text: &str) -> Option<(&'static str, &'static str)> {
    let folded = fold_tactic(text);
    TACTICS.iter().copied().find(|(id, name)| fold_tactic(id) == folded || fold_tactic(name) == folded)
}

/// The folded spellings a stored tactic may have to match `query`: the tactic's ID and name when
/// `query` names one of the 14, and `query` itself folded (a spelling of the rule's own).
pub fn tactic_keys(query: &str) -> Vec<String> {
    let mut keys = vec![fold_tactic(query)];
    if let Some((id, name)) = tactic(query) {
        for key in [fold_tactic(id), fold_tactic(name)] {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// A technique as compared: trimmed, upper case (`t1110.001` is `T1110.001`).
pub fn fold_technique(text: &str) -> String {
    text.trim().to_ascii_uppercase()
}

/// Whether a technique `query` covers the stored technique `stored`: the same ID in any case,
/// or — for a technique without a sub-technique part (`T1110`) — any of its sub-techniques
/// (`T1110.003`).
pub fn technique_matches(query: &str, stored: &str) -> bool {
    let (query, stored) = (fold_technique(query), fold_technique(stored));
    query == stored
        || (!query.contains('.')
            && stored.strip_prefix(query.as_str()).is_some_and(|rest| rest.starts_with('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tactic_is_named_by_id_or_by_name_in_any_spelling() {
        for spelling in ["TA0006", "ta0006", "Credential Access", "credential-access", "CREDENTIAL_ACCESS"] {
            assert_eq!(tactic(spelling), Some(("TA0006", "Credential Access")), "{spelling}");
        }
        assert_eq!(tactic("Command and Control"), Some(("TA0011", "Command and Control")));
        assert_eq!(tactic("Lunch"), None);
        assert_eq!(tactic_keys("credential-access"), ["credentialaccess", "ta0006"]);
        assert_eq!(tactic_keys("TA0006"), ["ta0006", "credentialaccess"]);
        assert_eq!(tactic_keys("My Own Tactic"), ["myowntactic"]);
        // The stored spelling Sentinel writes folds to one of the keys.
        assert!(tactic_keys("TA0006").contains(&fold_tactic("CredentialAccess")));
    }

    #[test]
    fn the_table_holds_the_fourteen_enterprise_tactics_once() {
        let mut ids: Vec<&str> = TACTICS.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 14);
        assert!(TACTICS.iter().all(|(id, _)| id.starts_with("TA") && id.len() == 6));
    }

    #[test]
    fn techniques_match_in_any_case_and_cover_their_sub_techniques() {
        assert!(technique_matches("t1110", "T1110"));
        assert!(technique_matches("T1110", "T1110.003"));
        assert!(technique_matches("t1110.003", "T1110.003"));
        assert!(!technique_matches("T1110.001", "T1110.003"));
        assert!(!technique_matches("T111", "T1110"));
        assert!(!technique_matches("T1110.003", "T1110"));
    }
}
