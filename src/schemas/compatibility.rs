//! Compatibility checks on registration, by Confluent's levels: BACKWARD
//! (the new schema reads data written with the old), FORWARD (the old reads
//! the new), FULL (both), each against the latest version or, in the
//! TRANSITIVE forms, against every live version.

use super::{Compatibility, State, SubjectVersion, Submitted};
use crate::schemas::SchemaType;

/// Which way data must flow between the old and the new schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The new schema reads what the old one wrote.
    Backward,
    /// The old schema reads what the new one writes.
    Forward,
    Both,
}

/// Checks `new` against the subject's live versions under `level`, or
/// against version `only` alone (the level's direction, not its
/// transitivity, then applies). The error names the version and the
/// problem.
pub fn check(
    state: &State,
    subject: &str,
    new: &Submitted,
    level: Compatibility,
    only: Option<SubjectVersion>,
) -> Result<(), String> {
    let direction = match level {
        Compatibility::None => return Ok(()),
        Compatibility::Backward | Compatibility::BackwardTransitive => Direction::Backward,
        Compatibility::Forward | Compatibility::ForwardTransitive => Direction::Forward,
        Compatibility::Full | Compatibility::FullTransitive => Direction::Both,
    };
    let versions = state.live_versions(subject);
    let against: Vec<SubjectVersion> = match (only, level) {
        (Some(v), _) => vec![v],
        (None, Compatibility::Backward | Compatibility::Forward | Compatibility::Full) => {
            versions.last().copied().into_iter().collect()
        }
        (None, _) => versions,
    };
    if against.is_empty() {
        return Ok(());
    }
    let new_resolved = state.resolve(&new.references).map_err(|e| e.message)?;
    for v in against {
        let old = &state.schemas[&v.id];
        if old.schema_type != new.schema_type {
            return Err(format!(
                "version {} is a {} schema, not {}",
                v.version,
                old.schema_type.name(),
                new.schema_type.name()
            ));
        }
        let old_resolved = state.resolve(&old.references).map_err(|e| e.message)?;
        let result = match new.schema_type {
            SchemaType::Avro => avro(
                &old.text,
                &old_resolved,
                &new.text,
                &new_resolved,
                direction,
            ),
            SchemaType::Json | SchemaType::Protobuf => Err(format!(
                "compatibility checking of {} schemas is not implemented yet; \
                 set the subject's compatibility to NONE to register new versions",
                new.schema_type.name()
            )),
        };
        result.map_err(|e| format!("incompatible with version {}: {e}", v.version))?;
    }
    Ok(())
}

fn avro(
    old: &str,
    old_references: &[gateway_codecs::Referenced],
    new: &str,
    new_references: &[gateway_codecs::Referenced],
    direction: Direction,
) -> Result<(), String> {
    use apache_avro::schema_compatibility::SchemaCompatibility as C;
    let old = gateway_codecs::avro::parse(old, old_references).map_err(|e| e.to_string())?;
    let new = gateway_codecs::avro::parse(new, new_references).map_err(|e| e.to_string())?;
    let result = match direction {
        Direction::Backward => C::can_read(&old, &new),
        Direction::Forward => C::can_read(&new, &old),
        Direction::Both => C::mutual_read(&old, &new),
    };
    result.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str =
        r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
    const V2: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}"#;
    const V3: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":"string"}]}"#;

    fn avro(text: &str) -> Submitted {
        Submitted::plain(SchemaType::Avro, text)
    }

    #[test]
    fn avro_backward_compatibility_is_checked_against_the_latest_version() {
        let mut state = State::default();
        state.apply_schema("s", 1, 1, avro(V1), false);
        let check = |new, level| check(&state, "s", &avro(new), level, None);
        assert!(check(V2, Compatibility::Backward).is_ok());
        let err = check(V3, Compatibility::Backward).unwrap_err();
        assert!(err.contains("version 1"), "{err}");
        assert!(check(V3, Compatibility::None).is_ok());
        assert!(check(V3, Compatibility::Forward).is_ok());
        assert!(check(V3, Compatibility::Full).is_err());
    }

    #[test]
    fn transitive_levels_check_every_live_version() {
        let mut state = State::default();
        state.apply_schema("s", 1, 1, avro(V1), false);
        state.apply_schema("s", 2, 2, avro(V3), false);
        // V3 -> V2 drops "email": backward compatible with V3 (the latest)
        // and with V1.
        let new = avro(V2);
        assert!(check(&state, "s", &new, Compatibility::BackwardTransitive, None).is_ok());
        // Forward: V3 cannot read V2's data (no email, no default), V1 can.
        assert!(check(&state, "s", &new, Compatibility::Forward, None).is_err());
        let only_v1 = state.live_versions("s")[0];
        assert!(check(&state, "s", &new, Compatibility::Forward, Some(only_v1)).is_ok());
    }

    #[test]
    fn a_schema_of_another_type_is_incompatible() {
        let mut state = State::default();
        state.apply_schema("s", 1, 1, avro(V1), false);
        let json = Submitted::plain(SchemaType::Json, "{}");
        let err = check(&state, "s", &json, Compatibility::Backward, None).unwrap_err();
        assert!(err.contains("AVRO"), "{err}");
        assert!(check(&state, "s", &json, Compatibility::None, None).is_ok());
    }
}
