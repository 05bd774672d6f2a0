//! Hand-parsed `--name value` flags (the lab stays dependency-free).

use std::collections::BTreeMap;
use std::str::FromStr;

pub struct Flags {
    values: BTreeMap<String, String>,
}

impl Flags {
    /// Parses `--name value` pairs, refusing names outside `known`, repeats and bare words.
    pub fn parse(args: &[String], known: &[&str]) -> Result<Flags, String> {
        let mut values = BTreeMap::new();
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let name = arg
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {arg:?}"))?;
            if !known.contains(&name) {
                return Err(format!(
                    "unknown flag --{name} (known: --{})",
                    known.join(", --")
                ));
            }
            let value = rest
                .next()
                .ok_or_else(|| format!("--{name} needs a value"))?;
            if values.insert(name.to_owned(), value.clone()).is_some() {
                return Err(format!("--{name} given twice"));
            }
        }
        Ok(Flags { values })
    }

    pub fn optional<T: FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        self.values
            .get(name)
            .map(|value| {
                value
                    .parse()
                    .map_err(|_| format!("--{name}: cannot use {value:?}"))
            })
            .transpose()
    }

    pub fn required<T: FromStr>(&self, name: &str) -> Result<T, String> {
        self.optional(name)?
            .ok_or_else(|| format!("--{name} is required"))
    }

    /// A comma-separated list.
    pub fn list<T: FromStr>(&self, name: &str) -> Result<Option<Vec<T>>, String> {
        let Some(text) = self.values.get(name) else {
            return Ok(None);
        };
        let items: Result<Vec<T>, String> = text
            .split(',')
            .map(|item| {
                item.trim()
                    .parse()
                    .map_err(|_| format!("--{name}: cannot use {item:?}"))
            })
            .collect();
        items.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn parse(args: &[&str]) -> Result<Flags, String> {
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        Flags::parse(&args, &["seed", "vip", "source-ips"])
    }

    #[test]
    fn reads_typed_values() {
        let flags = parse(&["--seed", "42", "--source-ips", "127.0.1.1, 127.0.1.2"]).unwrap();
        assert_eq!(flags.required::<u64>("seed"), Ok(42));
        assert_eq!(flags.optional::<String>("vip"), Ok(None));
        assert_eq!(
            flags.list::<Ipv4Addr>("source-ips"),
            Ok(Some(vec![
                Ipv4Addr::new(127, 0, 1, 1),
                Ipv4Addr::new(127, 0, 1, 2)
            ]))
        );
        assert_eq!(
            flags.required::<String>("vip"),
            Err("--vip is required".to_owned())
        );
    }

    #[test]
    fn refuses_bad_command_lines() {
        assert_eq!(
            parse(&["--color", "x"]).err(),
            Some("unknown flag --color (known: --seed, --vip, --source-ips)".to_owned())
        );
        assert_eq!(
            parse(&["--seed"]).err(),
            Some("--seed needs a value".to_owned())
        );
        assert_eq!(
            parse(&["seed"]).err(),
            Some("unexpected argument \"seed\"".to_owned())
        );
        assert_eq!(
            parse(&["--seed", "1", "--seed", "2"]).err(),
            Some("--seed given twice".to_owned())
        );
        assert_eq!(
            parse(&["--seed", "x"]).unwrap().required::<u64>("seed"),
            Err("--seed: cannot use \"x\"".to_owned())
        );
    }
}
