//! Which DNS answers an endpoint may give: interface endpoints live on
//! private addresses inside the VPC, gateway endpoints keep public ones.

use std::net::IpAddr;

use ipnet::{AddrParseError, IpNet};

/// An IPv4 or IPv6 network in CIDR notation, such as `10.0.0.0/16`, with
/// the host bits dropped: `10.0.1.7/16` means `10.0.0.0/16`, as AWS and
/// `ip route` read it.
pub fn parse_cidr(raw: &str) -> Result<IpNet, AddrParseError> {
    raw.trim().parse::<IpNet>().map(|network| network.trunc())
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
pub fn interface_answer_problem(ip: IpAddr, vpc_cidr: Option<&IpNet>) -> Option<String> {
    let class = classify(ip);
    match vpc_cidr {
        Some(cidr) if cidr.contains(&ip) => None,
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

    fn cidr(raw: &str) -> IpNet {
        parse_cidr(raw).expect("test CIDR")
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
            assert!(parse_cidr(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn cidr_membership() {
        let vpc = cidr("10.0.0.0/16");
        assert!(vpc.contains(&ip("10.0.255.1")));
        assert!(!vpc.contains(&ip("10.1.0.1")));
        assert!(!vpc.contains(&ip("::1")));
        assert!(cidr("0.0.0.0/0").contains(&ip("52.94.1.10")));
        assert!(cidr("127.0.0.0/8").contains(&ip("127.0.9.2")));
        assert!(cidr("fd00::/8").contains(&ip("fd12::1")));
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
