//! Middleware configuration (client attributes, logotype preferences) and the capability
//! answers of an InvocationResponse ([KG2-IRS-002], [KG2-IRS-003]).

use airtight_proto::alg::capabilities as cap;
use airtight_proto::messages::{CapabilityValue, ClientCapability, ImageAttributes};
use airtight_proto::sks::DeviceInfo;

/// Static middleware configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Values of client-attribute capabilities (`…/clientattr#…` URI → non-empty values). A
    /// query for an attribute that is not configured fails the InvocationRequest.
    pub client_attributes: Vec<(String, Vec<String>)>,
    /// Image preferences of logotype capabilities (`…/logotype#…` URI → attributes).
    pub image_preferences: Vec<(String, ImageAttributes)>,
}

impl Default for ClientConfig {
    /// No client attributes; PNG logotypes of list 48×48 and card 200×120 (what the recorded
    /// Java client answers), icon 64×64 and application 256×256.
    fn default() -> Self {
        let png = |w, h| ImageAttributes {
            mime_type: "image/png".into(),
            width: w,
            height: h,
        };
        ClientConfig {
            client_attributes: Vec::new(),
            image_preferences: vec![
                (cap::LOGOTYPE_LIST.into(), png(48, 48)),
                (cap::LOGOTYPE_CARD.into(), png(200, 120)),
                (cap::LOGOTYPE_ICON.into(), png(64, 64)),
                (cap::LOGOTYPE_APPLICATION.into(), png(256, 256)),
            ],
        }
    }
}

/// The first queried client attribute without configured values, if any.
pub fn unconfigured_attribute<'a>(query: &'a [String], config: &ClientConfig) -> Option<&'a str> {
    query
        .iter()
        .filter(|u| is_client_attribute(u))
        .find(|u| {
            !config
                .client_attributes
                .iter()
                .any(|(c, v)| c == *u && !v.is_empty())
        })
        .map(String::as_str)
}

/// True for a client-attribute capability URI.
pub fn is_client_attribute(uri: &str) -> bool {
    uri.starts_with("https://webpki.github.io/keygen2/clientattr#")
}

/// Answers a capability query in query order, exactly once per URI ([KG2-IRS-002]): features
/// from getDeviceInfo, client attributes and logotype preferences from `config`, every other
/// URI as an algorithm (supported iff the SKS lists it, [KG2-IRS-003]).
pub fn answer_capabilities(
    query: &[String],
    device: &DeviceInfo,
    config: &ClientConfig,
) -> Vec<ClientCapability> {
    query
        .iter()
        .map(|uri| {
            let value = if uri == cap::DEVICE_PIN_SUPPORT {
                CapabilityValue::Supported(device.device_pin_support)
            } else if uri == cap::BIOMETRIC_SUPPORT {
                CapabilityValue::Supported(device.biometric_support)
            } else if is_client_attribute(uri) {
                CapabilityValue::Values(
                    config
                        .client_attributes
                        .iter()
                        .find(|(u, v)| u == uri && !v.is_empty())
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                )
            } else if cap::LOGOTYPES.contains(&uri.as_str()) {
                let pref = config
                    .image_preferences
                    .iter()
                    .find(|(u, _)| u == uri)
                    .map(|(_, a)| a.clone())
                    .unwrap_or(ImageAttributes {
                        mime_type: "image/png".into(),
                        width: 64,
                        height: 64,
                    });
                CapabilityValue::ImageAttributes(pref)
            } else {
                CapabilityValue::Supported(device.supported_algorithms.iter().any(|a| a == uri))
            };
            ClientCapability {
                capability_type: uri.clone(),
                value,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use airtight_proto::sks::{DeviceLocation, DeviceType, DeviceTypeClass};

    fn device(algorithms: &[&str]) -> DeviceInfo {
        DeviceInfo {
            api_level: 106,
            device_type: DeviceType {
                location: DeviceLocation::Embedded,
                class: DeviceTypeClass::Software,
            },
            update_url: None,
            vendor_name: "v".into(),
            vendor_description: "d".into(),
            certificate_path: vec![],
            supported_algorithms: algorithms.iter().map(|a| (*a).to_owned()).collect(),
            crypto_data_size: 0,
            extension_data_size: 0,
            device_pin_support: false,
            biometric_support: false,
        }
    }

    #[test]
    fn the_order_of_supported_algorithms_carries_no_meaning() {
        // [SHIM-ENC-007] [KG2-IRS-003]: the capability answers depend on the set only.
        let a = "https://webpki.github.io/sks/algorithm#ec.nist.p256";
        let b = "https://webpki.github.io/sks/algorithm#rsa2048";
        let c = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
        let query: Vec<String> = [c, "urn:x:unknown", a]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let config = ClientConfig::default();
        let forward = answer_capabilities(&query, &device(&[a, b, c]), &config);
        let backward = answer_capabilities(&query, &device(&[c, b, a]), &config);
        assert_eq!(forward, backward);
        let supported: Vec<bool> = forward
            .iter()
            .map(|x| matches!(x.value, CapabilityValue::Supported(true)))
            .collect();
        assert_eq!(supported, vec![true, false, true]);
    }
}
