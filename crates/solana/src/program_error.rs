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

/// The `Custom(n)` code in a transaction error's text, in either form the ledgers print
/// (`… Custom(6103) …` from the debug form, `custom program error: 0x17d7` from Display).
pub fn custom_code(err: &str) -> Option<u32> {
    if let Some(rest) = err.split("Custom(").nth(1) {
        return rest.split(')').next()?.trim().parse().ok();
    }
    let hex = err.split("custom program error: 0x").nth(1)?;
    let digits: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
    u32::from_str_radix(&digits, 16).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn custom_code_reads_both_text_forms() {
        use super::custom_code;
        assert_eq!(custom_code("InstructionError(0, Custom(6103))"), Some(6103));
        assert_eq!(
            custom_code("Error processing Instruction 1: custom program error: 0x17d7"),
            Some(6103)
        );
        assert_eq!(custom_code("insufficient funds"), None);
    }
}
