//! Sprig's `semver` and `semverCompare`, on Ferry's port of Masterminds
//! semver v3 (the library Sprig uses).

use std::any::Any;
use std::str::FromStr;
use std::sync::Arc;

use ferry_semver::{Constraints, Version};

use crate::error::FuncError;
use crate::func::{FuncMap, Function};
use crate::sig::{Signature, Ty};
use crate::value::{Object, Value};

/// A `*semver.Version` in a template.
#[derive(Debug)]
struct SemverObject(Version);

impl Object for SemverObject {
    fn type_name(&self) -> &str {
        "*semver.Version"
    }

    fn kind(&self) -> &str {
        "ptr"
    }

    fn method(&self, name: &str) -> Option<Signature> {
        match name {
            "Major" | "Minor" | "Patch" | "Prerelease" | "Metadata" | "Original" | "String" => {
                Some(Signature::fixed(&[]))
            }
            "Compare" | "LessThan" | "GreaterThan" | "Equal" => {
                Some(Signature::fixed(&[Ty::Object("*semver.Version")]))
            }
            _ => None,
        }
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, FuncError> {
        let v = &self.0;
        let other = || match args.first() {
            Some(Value::Object(o)) => o.as_any().downcast_ref::<SemverObject>().map(|s| &s.0),
            _ => None,
        };
        Ok(match name {
            "Major" => Value::Int64(v.major() as i64),
            "Minor" => Value::Int64(v.minor() as i64),
            "Patch" => Value::Int64(v.patch() as i64),
            "Prerelease" => Value::string(v.prerelease()),
            "Metadata" => Value::string(v.metadata()),
            "Original" => Value::from(v.original()),
            "String" => Value::from(v.to_string()),
            "Compare" => Value::Int(other().map(|o| v.cmp(o) as i64).unwrap_or(0)),
            "LessThan" => Value::Bool(other().is_some_and(|o| v < o)),
            "GreaterThan" => Value::Bool(other().is_some_and(|o| v > o)),
            "Equal" => Value::Bool(other().is_some_and(|o| v == o)),
            _ => return Err(FuncError::msg(format!("no method {name}"))),
        })
    }

    fn display(&self) -> String {
        self.0.to_string()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Masterminds' error texts for what Ferry's semver rejects.
fn masterminds_error(e: ferry_semver::Error) -> FuncError {
    use ferry_semver::Error as E;
    FuncError::msg(match e {
        E::InvalidVersion(_) => "Invalid Semantic Version".to_string(),
        E::InvalidPrerelease(_) => "Invalid Prerelease string".to_string(),
        E::InvalidMetadata(_) => "Invalid Metadata string".to_string(),
        E::OutOfRange(part) => format!(
            "Error parsing version segment: strconv.ParseUint: parsing {}: value out of range",
            crate::strconv::quote(&part)
        ),
        other => other.to_string(),
    })
}

pub(super) fn register(m: &mut FuncMap) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    m.insert(
        "semverCompare",
        Function::fixed(&[Ty::String, Ty::String], move |a| {
            let c = Constraints::from_str(&s(&a[0])).map_err(masterminds_error)?;
            let v = Version::from_str(&s(&a[1])).map_err(masterminds_error)?;
            Ok(Value::Bool(c.matches(&v)))
        }),
    );
    m.insert(
        "semver",
        Function::fixed(&[Ty::String], move |a| {
            let v = Version::from_str(&s(&a[0])).map_err(masterminds_error)?;
            Ok(Value::Object(Arc::new(SemverObject(v))))
        }),
    );
}
