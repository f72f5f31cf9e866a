//! `program_error_codes!`: one enum per on-chain program mapping `Custom(n)` to a named,
//! documented reason, so clients turn a transaction error into a typed refusal.

/// Declares `$enum` with `ALL`, `code`, `name`, `message`, `from_code` and `Display`.
macro_rules! program_error_codes {
    ($(#[$meta:meta])* $enum:ident { $($name:ident = $code:literal : $msg:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum $enum {
            $(#[doc = $msg] $name = $code,)*
        }

        impl $enum {
            /// Every code, ascending.
            pub const ALL: &'static [$enum] = &[$($enum::$name,)*];

            /// The numeric code.
            pub fn code(self) -> u32 {
                self as u32
            }

            /// The variant name (PascalCase).
            pub fn name(self) -> &'static str {
                match self { $($enum::$name => stringify!($name),)* }
            }

            /// What went wrong.
            pub fn message(self) -> &'static str {
                match self { $($enum::$name => $msg,)* }
            }

            /// The code's variant, if the program defines it.
            pub fn from_code(code: u32) -> Option<$enum> {
                match code { $($code => Some($enum::$name),)* _ => None }
            }
        }

        impl std::fmt::Display for $enum {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{} ({}): {}", self.name(), self.code(), self.message())
            }
        }
    };
}

pub(crate) use program_error_codes;
