//! What kind of network an AS is: an ordinary ISP, a mobile carrier, a hosting provider, or an
//! anonymizer (VPN, proxy, Tor).
//!
//! The distinction matters both ways. A session that suddenly comes from a cloud provider or a
//! commercial VPN is more suspicious (attackers replay stolen tokens from rented servers), while
//! mobile carriers geolocate badly (a phone's address can resolve hundreds of km away) and so
//! deserve a wider uncertainty radius. Free GeoIP databases do not carry these flags, so the
//! classification uses a short list of well-known AS numbers plus keywords in the AS
//! organisation, and the proxy flags of sources that have them (Okta `isProxy`, GeoIP2 traits).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum NetClass {
    /// An ordinary access network, or unknown.
    #[default]
    Isp,
    Mobile,
    Hosting,
    /// VPN, proxy or Tor.
    Anonymizer,
}

impl NetClass {
    pub fn is_anonymizer(self) -> bool {
        self == NetClass::Anonymizer
    }
    /// Hosting or anonymizer: where stolen tokens are typically replayed from.
    pub fn is_rented(self) -> bool {
        matches!(self, NetClass::Hosting | NetClass::Anonymizer)
    }
    pub fn label(self) -> &'static str {
        match self {
            NetClass::Isp => "ISP",
            NetClass::Mobile => "mobile carrier",
            NetClass::Hosting => "hosting provider",
            NetClass::Anonymizer => "VPN/proxy",
        }
    }
}

const HOSTING_ASNS: &[u32] = &[
    16509, 14618, 8987, // Amazon
    8075, 8068, // Microsoft
    15169, 396982, 19527, // Google
    14061, // DigitalOcean
    16276, // OVH
    24940, 213230, // Hetzner
    63949,  // Linode / Akamai
    20473,  // Vultr / Choopa
    13335,  // Cloudflare
    45102, 37963, // Alibaba
    132203, 45090,  // Tencent
    31898,  // Oracle
    51167,  // Contabo
    12876,  // Scaleway
    36352,  // ColoCrossing
    53667,  // FranTech / BuyVM
    8560,   // IONOS
    197540, // netcup
    46606,  // Unified Layer
    40021,  // Contabo US
    62567,  // DigitalOcean
    398101, // GoDaddy
    26496,  // GoDaddy
];

const ANONYMIZER_ASNS: &[u32] = &[
    9009,   // M247 (many commercial VPN exits)
    60068,  // Datacamp / CDN77 (VPN exits)
    212238, // Datacamp
    39351,  // 31173 Services (Mullvad)
    136787, // TEFINCOM (NordVPN)
    147049, // PacketHub (NordVPN)
    208323, // Tor exits (Foundation for Applied Privacy)
];

const MOBILE_ASNS: &[u32] = &[
    6167,   // Verizon Wireless (CELLCO-PART)
    21928,  // T-Mobile US
    20057,  // AT&T Mobility
    22394,  // Verizon Wireless
    12430,  // Vodafone ES
    3209,   // Vodafone DE
    25135,  // Vodafone UK
    12576,  // EE
    206067, // Three UK
    20825,  // Telefonica O2 DE
];

fn org_has(org: &str, words: &[&str]) -> bool {
    let o = org.to_ascii_lowercase();
    words.iter().any(|w| o.contains(w))
}

pub fn classify(asn: Option<u32>, org: Option<&str>, proxy: bool) -> NetClass {
    if proxy {
        return NetClass::Anonymizer;
    }
    if let Some(a) = asn {
        if ANONYMIZER_ASNS.contains(&a) {
            return NetClass::Anonymizer;
        }
        if HOSTING_ASNS.contains(&a) {
            return NetClass::Hosting;
        }
        if MOBILE_ASNS.contains(&a) {
            return NetClass::Mobile;
        }
    }
    let Some(org) = org else { return NetClass::Isp };
    if org_has(
        org,
        &[
            "vpn",
            "proxy",
            "mullvad",
            "nordvpn",
            "expressvpn",
            "private internet access",
            "surfshark",
            "tor exit",
        ],
    ) {
        NetClass::Anonymizer
    } else if org_has(
        org,
        &[
            "hosting",
            "cloud",
            "server",
            "datacenter",
            "data center",
            "vps",
            "colocation",
            "amazon",
            "digitalocean",
            "hetzner",
            "ovh",
            "linode",
            "vultr",
        ],
    ) {
        NetClass::Hosting
    } else if org_has(org, &["mobile", "wireless", "cellular", "cellco", "lte"]) {
        NetClass::Mobile
    } else {
        NetClass::Isp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keywords_and_flags() {
        assert_eq!(classify(Some(16509), None, false), NetClass::Hosting);
        assert_eq!(
            classify(Some(9009), Some("M247 Europe SRL"), false),
            NetClass::Anonymizer
        );
        assert_eq!(classify(Some(6167), Some("CELLCO-PART"), false), NetClass::Mobile);
        assert_eq!(
            classify(Some(64500), Some("Example Cloud Servers GmbH"), false),
            NetClass::Hosting
        );
        assert_eq!(
            classify(Some(2856), Some("British Telecommunications PLC"), false),
            NetClass::Isp
        );
        assert_eq!(classify(Some(2856), None, true), NetClass::Anonymizer);
        assert_eq!(classify(None, None, false), NetClass::Isp);
    }
}
