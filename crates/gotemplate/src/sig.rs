//! Go parameter types of template functions: the executor checks arguments
//! against them as Go's reflection does, so a chart that passes a float64 to an
//! `int` parameter fails here with Go's message too.

/// A Go parameter type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// `interface{}`: anything; a missing value arrives as nil.
    Any,
    /// `reflect.Value` (Go's builtins): anything, a missing value stays missing.
    Reflect,
    /// `string`
    String,
    /// `bool`
    Bool,
    /// `int`
    Int,
    /// `int64`
    Int64,
    /// `uint32`
    Uint32,
    /// `float64`
    Float64,
    /// `[]interface {}`
    Slice,
    /// `[]string`
    Strings,
    /// `map[string]interface {}`, or a named map type (Helm's
    /// `chartutil.Values`) under the given name.
    Map(&'static str),
    /// A host object type, by its Go type name (`time.Time`).
    Object(&'static str),
}

impl Ty {
    /// The Go spelling, as error messages print it.
    pub fn go_name(&self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::Reflect => "reflect.Value",
            Ty::String => "string",
            Ty::Bool => "bool",
            Ty::Int => "int",
            Ty::Int64 => "int64",
            Ty::Uint32 => "uint32",
            Ty::Float64 => "float64",
            Ty::Slice => "[]interface {}",
            Ty::Strings => "[]string",
            Ty::Map(name) => name,
            Ty::Object(name) => name,
        }
    }

    /// Whether Go lets nil be assigned to it (`reflect.Zero` is then passed).
    pub fn can_be_nil(&self) -> bool {
        matches!(self, Ty::Any | Ty::Reflect | Ty::Slice | Ty::Strings | Ty::Map(_))
    }
}

/// The parameters of a function or method: fixed ones, then an optional
/// variadic tail (`...T`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The fixed parameters.
    pub params: Vec<Ty>,
    /// The element type of the variadic parameter, if any.
    pub variadic: Option<Ty>,
}

impl Signature {
    /// A signature with fixed parameters only.
    pub fn fixed(params: &[Ty]) -> Self {
        Signature { params: params.to_vec(), variadic: None }
    }

    /// A signature with fixed parameters and a variadic tail.
    pub fn variadic(params: &[Ty], tail: Ty) -> Self {
        Signature { params: params.to_vec(), variadic: Some(tail) }
    }

    /// Go's `NumIn()`: the fixed parameters plus the variadic slice.
    pub fn num_in(&self) -> usize {
        self.params.len() + usize::from(self.variadic.is_some())
    }
}
