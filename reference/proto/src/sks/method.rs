//! [`SksMethod`]: every SKS API method with its PDF method number (PDF §7.4, facts §2.2).

use super::consts;

macro_rules! methods {
    ($( $(#[$m:meta])* $var:ident = $num:literal, $java:literal, $mac:expr;)+) => {
        /// An SKS API method. The number is the byte that selects the method in the PDF's
        /// binary view; numbers ≥ 100 are the User API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum SksMethod {
            $($(#[$m])* $var,)+
        }

        impl SksMethod {
            /// Every method, in number order.
            pub const ALL: &'static [SksMethod] = &[$(SksMethod::$var,)+];

            /// The PDF method number.
            pub const fn number(self) -> u8 {
                match self { $(SksMethod::$var => $num,)+ }
            }

            /// From the PDF method number.
            pub fn from_number(number: u8) -> Option<Self> {
                match number {
                    $($num => Some(SksMethod::$var),)+
                    _ => None,
                }
            }

            /// The Java method name (`SecureKeyStore.java`).
            pub const fn java_name(self) -> &'static str {
                match self { $(SksMethod::$var => $java,)+ }
            }

            /// From the Java method name (exact).
            pub fn from_java_name(name: &str) -> Option<Self> {
                match name {
                    $($java => Some(SksMethod::$var),)+
                    _ => None,
                }
            }

            /// The name used as MAC key modifier, for the methods that carry a MAC
            /// (note `createPINPolicy` and `createPUKPolicy`).
            pub const fn mac_name(self) -> Option<&'static [u8]> {
                match self { $(SksMethod::$var => $mac,)+ }
            }
        }

        impl std::fmt::Display for SksMethod {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.java_name())
            }
        }
    };
}

methods! {
    /// \[1\] `getDeviceInfo`.
    GetDeviceInfo = 1, "getDeviceInfo", None;
    /// \[2\] `createProvisioningSession`.
    CreateProvisioningSession = 2, "createProvisioningSession", None;
    /// \[3\] `closeProvisioningSession`.
    CloseProvisioningSession = 3, "closeProvisioningSession",
        Some(consts::METHOD_CLOSE_PROVISIONING_SESSION);
    /// \[4\] `enumerateProvisioningSessions`.
    EnumerateProvisioningSessions = 4, "enumerateProvisioningSessions", None;
    /// \[5\] `abortProvisioningSession`.
    AbortProvisioningSession = 5, "abortProvisioningSession", None;
    /// \[7\] `updateKeyManagementKey`.
    UpdateKeyManagementKey = 7, "updateKeyManagementKey", None;
    /// \[8\] `createPukPolicy`.
    CreatePukPolicy = 8, "createPukPolicy", Some(consts::METHOD_CREATE_PUK_POLICY);
    /// \[9\] `createPinPolicy`.
    CreatePinPolicy = 9, "createPinPolicy", Some(consts::METHOD_CREATE_PIN_POLICY);
    /// \[10\] `createKeyEntry`.
    CreateKeyEntry = 10, "createKeyEntry", Some(consts::METHOD_CREATE_KEY_ENTRY);
    /// \[11\] `getKeyHandle`.
    GetKeyHandle = 11, "getKeyHandle", None;
    /// \[12\] `setCertificatePath`.
    SetCertificatePath = 12, "setCertificatePath", Some(consts::METHOD_SET_CERTIFICATE_PATH);
    /// \[13\] `importSymmetricKey`.
    ImportSymmetricKey = 13, "importSymmetricKey", Some(consts::METHOD_IMPORT_SYMMETRIC_KEY);
    /// \[14\] `importPrivateKey`.
    ImportPrivateKey = 14, "importPrivateKey", Some(consts::METHOD_IMPORT_PRIVATE_KEY);
    /// \[15\] `addExtension`.
    AddExtension = 15, "addExtension", Some(consts::METHOD_ADD_EXTENSION);
    /// \[50\] `postDeleteKey`.
    PostDeleteKey = 50, "postDeleteKey", Some(consts::METHOD_POST_DELETE_KEY);
    /// \[51\] `postUnlockKey`.
    PostUnlockKey = 51, "postUnlockKey", Some(consts::METHOD_POST_UNLOCK_KEY);
    /// \[52\] `postUpdateKey`.
    PostUpdateKey = 52, "postUpdateKey", Some(consts::METHOD_POST_UPDATE_KEY);
    /// \[53\] `postCloneKeyProtection`.
    PostCloneKeyProtection = 53, "postCloneKeyProtection",
        Some(consts::METHOD_POST_CLONE_KEY_PROTECTION);
    /// \[70\] `enumerateKeys`.
    EnumerateKeys = 70, "enumerateKeys", None;
    /// \[71\] `getKeyAttributes`.
    GetKeyAttributes = 71, "getKeyAttributes", None;
    /// \[72\] `getKeyProtectionInfo`.
    GetKeyProtectionInfo = 72, "getKeyProtectionInfo", None;
    /// \[73\] `getExtension`.
    GetExtension = 73, "getExtension", None;
    /// \[74\] `setProperty`.
    SetProperty = 74, "setProperty", None;
    /// \[80\] `deleteKey`.
    DeleteKey = 80, "deleteKey", None;
    /// \[81\] `exportKey`.
    ExportKey = 81, "exportKey", None;
    /// \[82\] `unlockKey`.
    UnlockKey = 82, "unlockKey", None;
    /// \[83\] `changePin`.
    ChangePin = 83, "changePin", None;
    /// \[84\] `setPin`.
    SetPin = 84, "setPin", None;
    /// \[90\] `updateFirmware` (optional).
    UpdateFirmware = 90, "updateFirmware", None;
    /// \[100\] `signData` (the PDF's `signHashedData`; API level 106 signs raw data).
    SignData = 100, "signData", None;
    /// \[101\] `asymmetricKeyDecrypt`.
    AsymmetricKeyDecrypt = 101, "asymmetricKeyDecrypt", None;
    /// \[102\] `keyAgreement`.
    KeyAgreement = 102, "keyAgreement", None;
    /// \[103\] `performHmac`.
    PerformHmac = 103, "performHmac", None;
    /// \[104\] `symmetricKeyEncrypt`.
    SymmetricKeyEncrypt = 104, "symmetricKeyEncrypt", None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_names_match_java_except_pin_puk() {
        for m in SksMethod::ALL {
            if let Some(mac) = m.mac_name() {
                let java = m.java_name().as_bytes();
                if matches!(m, SksMethod::CreatePinPolicy | SksMethod::CreatePukPolicy) {
                    assert_ne!(mac, java);
                    assert!(mac.eq_ignore_ascii_case(java));
                } else {
                    assert_eq!(mac, java);
                }
            }
        }
        assert_eq!(
            SksMethod::ALL
                .iter()
                .filter(|m| m.mac_name().is_some())
                .count(),
            12
        );
    }
}
