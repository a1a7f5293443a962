//! Which DNS answers an endpoint may give: interface endpoints live on
//! private addresses inside the VPC, gateway endpoints keep public ones.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 network in CIDR notation, such as `10.0.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// A string that is not CIDR notation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCidr;

impl FromStr for Cidr {
    type Err = InvalidCidr;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = raw.trim().split_once('/').ok_or(InvalidCidr)?;
        let address: IpAddr = address.parse().map_err(|_| InvalidCidr)?;
        let prefix: u8 = prefix.parse().map_err(|_| InvalidCidr)?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(InvalidCidr);
        }
        // Keep the network address only, so `10.0.1.7/16` means `10.0.0.0/16`
        // as AWS and `ip route` read it.
        let network = match address {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix))),
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(network)
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(network)
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// The kinds of address a DNS answer can hold, as far as reaching AWS goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// RFC 1918 (10/8, 172.16/12, 192.168/16) or IPv6 unique local (fc00::/7).
    Private,
    /// 100.64.0.0/10, which VPCs may also use as a secondary range.
    SharedAddressSpace,
    Loopback,
    LinkLocal,
    /// Anything else: routed on the internet.
    Public,
}

impl AddressClass {
    fn describe(self) -> &'static str {
        match self {
            AddressClass::Private => "private",
            AddressClass::SharedAddressSpace => "shared (100.64.0.0/10)",
            AddressClass::Loopback => "loopback",
            AddressClass::LinkLocal => "link-local",
            AddressClass::Public => "public",
        }
    }
}

pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_private() {
                AddressClass::Private
            } else if a == 100 && (64..128).contains(&b) {
                AddressClass::SharedAddressSpace
            } else if v4.is_loopback() {
                AddressClass::Loopback
            } else if v4.is_link_local() {
                AddressClass::LinkLocal
            } else {
                AddressClass::Public
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if first & 0xfe00 == 0xfc00 {
                AddressClass::Private
            } else if v6.is_loopback() {
                AddressClass::Loopback
            } else if first & 0xffc0 == 0xfe80 {
                AddressClass::LinkLocal
            } else if let Some(v4) = v6.to_ipv4_mapped() {
                classify(IpAddr::V4(v4))
            } else {
                AddressClass::Public
            }
        }
    }
}

/// Why `ip` cannot be an interface endpoint's address, or `None` when it can.
///
/// With the VPC's CIDR known, the answer must lie inside it (which also
/// admits VPCs on ranges other than RFC 1918); without it, the answer must
/// at least be private.
pub fn interface_answer_problem(ip: IpAddr, vpc_cidr: Option<&Cidr>) -> Option<String> {
    let class = classify(ip);
    match vpc_cidr {
        Some(cidr) if cidr.contains(ip) => None,
        Some(cidr) => Some(format!(
            "a {} address ({ip}) outside the VPC CIDR {cidr}",
            class.describe()
        )),
        None if class == AddressClass::Private => None,
        None if class == AddressClass::Public => Some(format!("a public address ({ip})")),
        None => Some(format!(
            "a {} address ({ip}), which is not RFC 1918 (set ISOKIT_VPC_CIDR if the VPC uses this range)",
            class.describe()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().expect("test address")
    }

    fn cidr(raw: &str) -> Cidr {
        raw.parse().expect("test CIDR")
    }

    #[test]
    fn classifies_each_range() {
        let cases = [
            ("10.0.3.7", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("192.168.1.1", AddressClass::Private),
            ("172.32.0.1", AddressClass::Public),
            ("100.64.0.1", AddressClass::SharedAddressSpace),
            ("100.127.255.1", AddressClass::SharedAddressSpace),
            ("100.128.0.1", AddressClass::Public),
            ("127.0.0.5", AddressClass::Loopback),
            ("169.254.170.2", AddressClass::LinkLocal),
            ("52.94.1.10", AddressClass::Public),
            ("fd00:ec2::23", AddressClass::Private),
            ("::1", AddressClass::Loopback),
            ("fe80::1", AddressClass::LinkLocal),
            ("2600:1f18::1", AddressClass::Public),
            ("::ffff:10.1.2.3", AddressClass::Private),
        ];
        for (address, class) in cases {
            assert_eq!(classify(ip(address)), class, "{address}");
        }
    }

    #[test]
    fn cidr_parsing_normalises_and_rejects_bad_forms() {
        assert_eq!(cidr("10.0.1.7/16").to_string(), "10.0.0.0/16");
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(cidr("fd00::1/8").to_string(), "fd00::/8");
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/16",
            "x/8",
            "::/129",
            "10.0.0.0/-1",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn cidr_membership() {
        let vpc = cidr("10.0.0.0/16");
        assert!(vpc.contains(ip("10.0.255.1")));
        assert!(!vpc.contains(ip("10.1.0.1")));
        assert!(!vpc.contains(ip("::1")));
        assert!(cidr("0.0.0.0/0").contains(ip("52.94.1.10")));
        assert!(cidr("127.0.0.0/8").contains(ip("127.0.9.2")));
        assert!(cidr("fd00::/8").contains(ip("fd12::1")));
    }

    #[test]
    fn interface_answers_must_be_private_or_inside_the_vpc() {
        assert_eq!(interface_answer_problem(ip("10.0.3.7"), None), None);
        let public = interface_answer_problem(ip("52.94.1.10"), None).expect("public is refused");
        assert!(public.contains("public address (52.94.1.10)"), "{public}");
        let shared = interface_answer_problem(ip("100.64.1.1"), None).expect("not RFC 1918");
        assert!(shared.contains("ISOKIT_VPC_CIDR"), "{shared}");
        assert!(interface_answer_problem(ip("127.0.0.1"), None).is_some());

        let vpc = cidr("10.0.0.0/16");
        assert_eq!(interface_answer_problem(ip("10.0.3.7"), Some(&vpc)), None);
        let outside =
            interface_answer_problem(ip("10.9.0.1"), Some(&vpc)).expect("outside the VPC");
        assert!(
            outside.contains("outside the VPC CIDR 10.0.0.0/16"),
            "{outside}"
        );

        let secondary = cidr("100.64.0.0/16");
        assert_eq!(
            interface_answer_problem(ip("100.64.1.1"), Some(&secondary)),
            None
        );
    }
}
