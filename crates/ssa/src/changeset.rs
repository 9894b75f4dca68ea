//! What an apply or a delete did to each object, printed as Flux prints it.

use std::fmt;

use crate::object::ObjectRef;

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The object did not exist and was created.
    Created,
    /// The object existed and was changed.
    Configured,
    /// The object already was as desired.
    Unchanged,
    /// The object was deleted (or was already gone).
    Deleted,
    /// The object was left alone on purpose (annotations, owner labels).
    Skipped,
}

impl Action {
    /// Flux's word for the action, as it appears in events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Deleted => "deleted",
            Self::Skipped => "skipped",
        }
    }

    /// Whether the cluster changed (created, configured or deleted).
    pub fn is_change(self) -> bool {
        matches!(self, Self::Created | Self::Configured | Self::Deleted)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeSetEntry {
    /// The object.
    pub object: ObjectRef,
    /// The object as Flux names it: `Kind/namespace/name` or `Kind/name`.
    pub subject: String,
    /// What happened.
    pub action: Action,
}

impl ChangeSetEntry {
    /// The entry for `object`.
    pub fn new(object: ObjectRef, action: Action) -> Self {
        Self { subject: object.subject(), object, action }
    }
}

impl fmt::Display for ChangeSetEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.subject, self.action)
    }
}

/// What an apply or a delete did, one entry per object in the order the objects were handled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// The entries.
    pub entries: Vec<ChangeSetEntry>,
}

impl ChangeSet {
    /// The entries that changed the cluster (Flux's event text is made of these only).
    pub fn changes(&self) -> impl Iterator<Item = &ChangeSetEntry> {
        self.entries.iter().filter(|e| e.action.is_change())
    }

    /// Whether any entry changed the cluster.
    pub fn has_changes(&self) -> bool {
        self.changes().next().is_some()
    }

    /// The objects, in order.
    pub fn objects(&self) -> Vec<ObjectRef> {
        self.entries.iter().map(|e| e.object.clone()).collect()
    }

    /// The entry of `object`, if any.
    pub fn get(&self, object: &ObjectRef) -> Option<&ChangeSetEntry> {
        self.entries.iter().find(|e| e.object.same_object(object))
    }

    /// The action taken on the object named `subject`, if any.
    pub fn action_of(&self, subject: &str) -> Option<Action> {
        self.entries.iter().find(|e| e.subject == subject).map(|e| e.action)
    }
}

/// One line per entry: `Deployment/apps/web configured`.
impl fmt::Display for ChangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_one_line_per_entry() {
        let set = ChangeSet {
            entries: vec![
                ChangeSetEntry::new(ObjectRef::new("v1", "Namespace", "", "apps"), Action::Unchanged),
                ChangeSetEntry::new(ObjectRef::new("apps/v1", "Deployment", "apps", "web"), Action::Configured),
            ],
        };
        assert_eq!(set.to_string(), "Namespace/apps unchanged\nDeployment/apps/web configured");
        assert!(set.has_changes());
        assert_eq!(set.changes().count(), 1);
        assert_eq!(set.action_of("Deployment/apps/web"), Some(Action::Configured));
    }
}
