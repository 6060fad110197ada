//! Consumer groups as the v3 API shows them: members and their assigned
//! partitions (decoded from Kafka's ConsumerProtocol assignment), and lag
//! per partition (committed offset against the high watermark).

use std::collections::BTreeMap;

use crate::kafka::admin_ffi::GroupDescription;

/// One member of a group, with what it is assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub consumer_id: String,
    pub client_id: String,
    pub host: String,
    /// librdkafka's group list does not carry static membership ids.
    pub instance_id: Option<String>,
    pub assignments: Vec<(String, i32)>,
}

/// A group, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub partition_assignor: String,
    pub coordinator: i32,
    pub members: Vec<Member>,
}

impl Group {
    pub fn from_description(d: GroupDescription) -> Group {
        let is_consumer = d.protocol_type == "consumer" || d.protocol_type.is_empty();
        Group {
            members: d
                .members
                .into_iter()
                .map(|m| Member {
                    assignments: if is_consumer {
                        decode_assignment(&m.assignment).unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                    consumer_id: m.member_id,
                    client_id: m.client_id,
                    host: m.host,
                    instance_id: None,
                })
                .collect(),
            group_id: d.group_id,
            state: confluent_state(&d.state),
            protocol_type: d.protocol_type,
            partition_assignor: d.protocol,
            coordinator: d.coordinator,
        }
    }

    /// Confluent: a group with no members using the consumer protocol,
    /// i.e. one that only commits offsets.
    pub fn is_simple(&self) -> bool {
        self.protocol_type.is_empty()
    }

    /// Who is assigned `(topic, partition)`.
    pub fn owner(&self, topic: &str, partition: i32) -> Option<&Member> {
        self.members.iter().find(|m| {
            m.assignments
                .iter()
                .any(|(t, p)| t == topic && *p == partition)
        })
    }
}

/// Kafka's group states in Confluent's spelling (`Stable` → `STABLE`,
/// `PreparingRebalance` → `PREPARING_REBALANCE`).
pub fn confluent_state(state: &str) -> String {
    if state.is_empty() {
        return "UNKNOWN".into();
    }
    let mut out = String::with_capacity(state.len() + 4);
    for (i, c) in state.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Decodes a ConsumerProtocol assignment (version i16; an array of topic
/// name + partition ids; user data, ignored). `None` if malformed; an
/// empty assignment (a member not yet synced) is an empty list.
pub fn decode_assignment(bytes: &[u8]) -> Option<Vec<(String, i32)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let mut r = Reader { bytes, at: 0 };
    let _version = r.i16()?;
    let topics = r.i32()?;
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let len = r.i16()?;
        let name = String::from_utf8(r.take(usize::try_from(len).ok()?)?.to_vec()).ok()?;
        let partitions = r.i32()?;
        // Each partition takes 4 bytes: a count past the end is malformed
        // (and must not reserve memory).
        if partitions < 0 || partitions as usize > r.remaining() / 4 {
            return None;
        }
        for _ in 0..partitions {
            out.push((name.clone(), r.i32()?));
        }
    }
    Some(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

/// The lag of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lag {
    pub topic: String,
    pub partition: i32,
    pub current_offset: i64,
    pub log_end_offset: i64,
    pub lag: i64,
    pub consumer_id: Option<String>,
    pub client_id: Option<String>,
    pub instance_id: Option<String>,
}

/// Lags from committed offsets and end offsets, each keyed by (topic,
/// partition); only partitions with a committed offset count. Sorted by
/// topic, then partition.
pub fn lags(
    group: Option<&Group>,
    committed: &BTreeMap<(String, i32), i64>,
    ends: &BTreeMap<(String, i32), i64>,
) -> Vec<Lag> {
    committed
        .iter()
        .filter(|(_, offset)| **offset >= 0)
        .map(|((topic, partition), &current)| {
            let end = ends
                .get(&(topic.clone(), *partition))
                .copied()
                .unwrap_or(current);
            let owner = group.and_then(|g| g.owner(topic, *partition));
            Lag {
                topic: topic.clone(),
                partition: *partition,
                current_offset: current,
                log_end_offset: end,
                lag: (end - current).max(0),
                consumer_id: owner.map(|m| m.consumer_id.clone()),
                client_id: owner.map(|m| m.client_id.clone()),
                instance_id: owner.and_then(|m| m.instance_id.clone()),
            }
        })
        .collect()
}

/// The summary: the largest lag (first in order on ties) and the total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagSummary {
    pub max: Option<Lag>,
    pub total: i64,
}

pub fn summary(lags: &[Lag]) -> LagSummary {
    let mut max: Option<&Lag> = None;
    for lag in lags {
        if max.is_none_or(|m| lag.lag > m.lag) {
            max = Some(lag);
        }
    }
    LagSummary {
        max: max.cloned(),
        total: lags.iter().map(|l| l.lag).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut b = vec![0, 1];
        b.extend((topics.len() as i32).to_be_bytes());
        for (t, ps) in topics {
            b.extend((t.len() as i16).to_be_bytes());
            b.extend(t.as_bytes());
            b.extend((ps.len() as i32).to_be_bytes());
            for p in *ps {
                b.extend(p.to_be_bytes());
            }
        }
        b.extend((-1i32).to_be_bytes()); // no user data
        b
    }

    #[test]
    fn decodes_consumer_protocol_assignments() {
        let bytes = assignment(&[("orders", &[0, 2]), ("b", &[1])]);
        assert_eq!(
            decode_assignment(&bytes),
            Some(vec![
                ("orders".into(), 0),
                ("orders".into(), 2),
                ("b".into(), 1)
            ])
        );
        assert_eq!(decode_assignment(&[]), Some(vec![]));
        // Truncated anywhere: refused, never a panic.
        for cut in 1..bytes.len() - 4 {
            assert_eq!(decode_assignment(&bytes[..cut]), None, "cut at {cut}");
        }
        // A huge partition count does not allocate.
        let mut huge = vec![0, 0, 0, 0, 0, 1, 0, 1, b'x'];
        huge.extend(i32::MAX.to_be_bytes());
        assert_eq!(decode_assignment(&huge), None);
    }

    #[test]
    fn states_are_spelled_as_confluent_does() {
        assert_eq!(confluent_state("Stable"), "STABLE");
        assert_eq!(confluent_state("PreparingRebalance"), "PREPARING_REBALANCE");
        assert_eq!(
            confluent_state("CompletingRebalance"),
            "COMPLETING_REBALANCE"
        );
        assert_eq!(confluent_state(""), "UNKNOWN");
    }

    #[test]
    fn lags_and_their_summary() {
        let group = Group {
            group_id: "g".into(),
            state: "STABLE".into(),
            protocol_type: "consumer".into(),
            partition_assignor: "range".into(),
            coordinator: 1,
            members: vec![Member {
                consumer_id: "m1".into(),
                client_id: "c1".into(),
                host: "/h".into(),
                instance_id: None,
                assignments: vec![("t".into(), 1)],
            }],
        };
        let committed = BTreeMap::from([
            (("t".into(), 0), 5),
            (("t".into(), 1), 2),
            (("t".into(), 2), -1001),
        ]);
        let ends = BTreeMap::from([(("t".into(), 0), 6), (("t".into(), 1), 9)]);
        let lags = lags(Some(&group), &committed, &ends);
        assert_eq!(lags.len(), 2);
        assert_eq!((lags[0].lag, lags[0].consumer_id.as_deref()), (1, None));
        assert_eq!(
            (lags[1].lag, lags[1].consumer_id.as_deref()),
            (7, Some("m1"))
        );
        let s = summary(&lags);
        assert_eq!(s.total, 8);
        assert_eq!(s.max.unwrap().partition, 1);
        assert_eq!(summary(&[]).max, None);
    }
}
