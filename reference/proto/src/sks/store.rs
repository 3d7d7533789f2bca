//! The [`SecureKeyStore`] trait: the SKS API method for method (facts §2.2).

use zeroize::Zeroizing;

use super::error::SksError;
use super::params::{
    CreateKeyEntryParams, CreatePinPolicyParams, CreateProvisioningSessionParams,
    CreatePukPolicyParams,
};
use super::types::{
    DeviceInfo, EnumeratedKey, EnumeratedProvisioningSession, Extension, ExtensionSubType,
    KeyAttributes, KeyData, KeyHandle, KeyProtectionInfo, PinPolicyHandle, ProvisioningHandle,
    ProvisioningSessionResult, PukPolicyHandle,
};
use crate::policy::EnumArg;

/// Declares the trait once and forwards it through `Box<T>` and `&mut T`, so that the
/// signatures cannot drift apart.
macro_rules! secure_key_store {
    ($(#[$tm:meta])* pub trait $trait:ident {
        $( $(#[$m:meta])* fn $name:ident(&mut self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )+
    }) => {
        $(#[$tm])*
        pub trait $trait {
            $( $(#[$m])* fn $name(&mut self $(, $arg: $ty)*) -> Result<$ret, SksError>; )+
        }

        impl<T: $trait + ?Sized> $trait for Box<T> {
            $( fn $name(&mut self $(, $arg: $ty)*) -> Result<$ret, SksError> {
                (**self).$name($($arg),*)
            } )+
        }

        impl<T: $trait + ?Sized> $trait for &mut T {
            $( fn $name(&mut self $(, $arg: $ty)*) -> Result<$ret, SksError> {
                (**self).$name($($arg),*)
            } )+
        }
    };
}

secure_key_store! {
    /// The SKS API ("Secure Key Store"), method for method with `SecureKeyStore.java` at API
    /// level 106. Every method returns `Result<_, SksError>`; the number in brackets is the
    /// PDF method number ([`SksMethod`](super::SksMethod)).
    ///
    /// Every method but [`SksErrorCode::Authorization`](super::SksErrorCode::Authorization)
    /// failures is fatal inside provisioning: an error in a provisioning method tears down the
    /// whole session. Public keys and certificates are DER (SubjectPublicKeyInfo, X.509).
    ///
    /// The trait is object safe (`Box<dyn SecureKeyStore>` works) and is implemented for
    /// `Box<T>` and `&mut T`, so wrappers compose.
    pub trait SecureKeyStore {
        /// \[1\] `getDeviceInfo`: what the SKS is, its certificate path and its limits.
        fn get_device_info(&mut self) -> DeviceInfo;

        /// \[90\] `updateFirmware`: feeds one chunk; returns the URL of the next chunk.
        /// Optional: the reference implementation fails with `ERROR_NOT_ALLOWED`.
        fn update_firmware(&mut self, chunk: &[u8]) -> String;

        /// \[2\] `createProvisioningSession`: starts a session (ECDH with the server's
        /// ephemeral key) and returns its attested result.
        fn create_provisioning_session(
            &mut self,
            params: &CreateProvisioningSessionParams,
        ) -> ProvisioningSessionResult;

        /// \[3\] `closeProvisioningSession`: checks the session, runs the buffered
        /// post-operations, commits; returns the 32-byte close attestation of `nonce`.
        fn close_provisioning_session(
            &mut self,
            provisioning_handle: ProvisioningHandle,
            nonce: &[u8],
            mac: &[u8],
        ) -> Vec<u8>;

        /// \[4\] `enumerateProvisioningSessions`: the session after `provisioning_handle`
        /// ([`ProvisioningHandle::NONE`] to start) that is open (`provisioning_state` true)
        /// or closed (false); `None` at the end.
        fn enumerate_provisioning_sessions(
            &mut self,
            provisioning_handle: ProvisioningHandle,
            provisioning_state: bool,
        ) -> Option<EnumeratedProvisioningSession>;

        /// \[5\] `abortProvisioningSession`: deletes the open session and all it created.
        fn abort_provisioning_session(&mut self, provisioning_handle: ProvisioningHandle) -> ();

        /// \[7\] `updateKeyManagementKey`: replaces the KMK of a closed session;
        /// `authorization` = Sign(old KMK, "RollOverAuthorization" ‖ new KMK SPKI DER).
        fn update_key_management_key(
            &mut self,
            provisioning_handle: ProvisioningHandle,
            key_management_key: &[u8],
            authorization: &[u8],
        ) -> ();

        /// \[8\] `createPukPolicy`: returns the new PUK policy.
        fn create_puk_policy(&mut self, params: &CreatePukPolicyParams) -> PukPolicyHandle;

        /// \[9\] `createPinPolicy`: returns the new PIN policy.
        fn create_pin_policy(&mut self, params: &CreatePinPolicyParams) -> PinPolicyHandle;

        /// \[10\] `createKeyEntry`: generates a key pair; returns it with its attestation.
        fn create_key_entry(&mut self, params: &CreateKeyEntryParams) -> KeyData;

        /// \[11\] `getKeyHandle`: the key named `id` in an open session.
        fn get_key_handle(
            &mut self,
            provisioning_handle: ProvisioningHandle,
            id: &str,
        ) -> KeyHandle;

        /// \[12\] `setCertificatePath`: attaches X.509 DER certificates, end-entity first.
        fn set_certificate_path(
            &mut self,
            key_handle: KeyHandle,
            certificate_path: &[Vec<u8>],
            mac: &[u8],
        ) -> ();

        /// \[13\] `importSymmetricKey`: `encrypted_key` = `IV ‖ AES-256-CBC(key)`.
        fn import_symmetric_key(
            &mut self,
            key_handle: KeyHandle,
            encrypted_key: &[u8],
            mac: &[u8],
        ) -> ();

        /// \[14\] `importPrivateKey`: `encrypted_key` = `IV ‖ AES-256-CBC(PKCS#8)`.
        fn import_private_key(
            &mut self,
            key_handle: KeyHandle,
            encrypted_key: &[u8],
            mac: &[u8],
        ) -> ();

        /// \[15\] `addExtension`: one extension per `type_uri` and key.
        fn add_extension(
            &mut self,
            key_handle: KeyHandle,
            type_uri: &str,
            sub_type: EnumArg<ExtensionSubType>,
            qualifier: &str,
            extension_data: &[u8],
            mac: &[u8],
        ) -> ();

        /// \[50\] `postDeleteKey`: deletes `target_key_handle` at close.
        fn post_delete_key(
            &mut self,
            provisioning_handle: ProvisioningHandle,
            target_key_handle: KeyHandle,
            authorization: &[u8],
            mac: &[u8],
        ) -> ();

        /// \[51\] `postUnlockKey`: unlocks `target_key_handle` at close.
        fn post_unlock_key(
            &mut self,
            provisioning_handle: ProvisioningHandle,
            target_key_handle: KeyHandle,
            authorization: &[u8],
            mac: &[u8],
        ) -> ();

        /// \[52\] `postUpdateKey`: the new key `key_handle` replaces `target_key_handle` at
        /// close.
        fn post_update_key(
            &mut self,
            key_handle: KeyHandle,
            target_key_handle: KeyHandle,
            authorization: &[u8],
            mac: &[u8],
        ) -> ();

        /// \[53\] `postCloneKeyProtection`: the new key `key_handle` shares the PIN of
        /// `target_key_handle` at close.
        fn post_clone_key_protection(
            &mut self,
            key_handle: KeyHandle,
            target_key_handle: KeyHandle,
            authorization: &[u8],
            mac: &[u8],
        ) -> ();

        /// \[70\] `enumerateKeys`: the key after `key_handle` ([`KeyHandle::NONE`] to start)
        /// among keys of closed sessions; `None` at the end.
        fn enumerate_keys(&mut self, key_handle: KeyHandle) -> Option<EnumeratedKey>;

        /// \[71\] `getKeyAttributes`.
        fn get_key_attributes(&mut self, key_handle: KeyHandle) -> KeyAttributes;

        /// \[72\] `getKeyProtectionInfo`.
        fn get_key_protection_info(&mut self, key_handle: KeyHandle) -> KeyProtectionInfo;

        /// \[73\] `getExtension`: the extension of type `type_uri`.
        fn get_extension(&mut self, key_handle: KeyHandle, type_uri: &str) -> Extension;

        /// \[74\] `setProperty`: sets a writable property of the property bag `type_uri`.
        fn set_property(
            &mut self,
            key_handle: KeyHandle,
            type_uri: &str,
            name: &str,
            value: &str,
        ) -> ();

        /// \[80\] `deleteKey`: `authorization` is the PIN or PUK when delete protection asks
        /// for one.
        fn delete_key(&mut self, key_handle: KeyHandle, authorization: Option<&[u8]>) -> ();

        /// \[81\] `exportKey`: the raw PKCS#8 private key or symmetric key; sets EXPORTED.
        fn export_key(
            &mut self,
            key_handle: KeyHandle,
            authorization: Option<&[u8]>,
        ) -> Zeroizing<Vec<u8>>;

        /// \[82\] `unlockKey`: unblocks the PIN with the PUK `authorization`.
        fn unlock_key(&mut self, key_handle: KeyHandle, authorization: &[u8]) -> ();

        /// \[83\] `changePin`: `authorization` is the old PIN.
        fn change_pin(
            &mut self,
            key_handle: KeyHandle,
            authorization: &[u8],
            new_pin: &[u8],
        ) -> ();

        /// \[84\] `setPin`: `authorization` is the PUK.
        fn set_pin(&mut self, key_handle: KeyHandle, authorization: &[u8], new_pin: &[u8]) -> ();

        /// \[100\] `signData`: signs raw `data` (API level 106; ECDSA results are raw r‖s).
        fn sign_data(
            &mut self,
            key_handle: KeyHandle,
            algorithm: &str,
            parameters: Option<&[u8]>,
            biometric_auth: bool,
            authorization: Option<&[u8]>,
            data: &[u8],
        ) -> Vec<u8>;

        /// \[101\] `asymmetricKeyDecrypt`: returns the plaintext.
        fn asymmetric_key_decrypt(
            &mut self,
            key_handle: KeyHandle,
            algorithm: &str,
            parameters: Option<&[u8]>,
            biometric_auth: bool,
            authorization: Option<&[u8]>,
            data: &[u8],
        ) -> Zeroizing<Vec<u8>>;

        /// \[102\] `keyAgreement`: ECDH with `public_key` (SubjectPublicKeyInfo DER); returns
        /// the raw shared secret Z.
        fn key_agreement(
            &mut self,
            key_handle: KeyHandle,
            algorithm: &str,
            parameters: Option<&[u8]>,
            biometric_auth: bool,
            authorization: Option<&[u8]>,
            public_key: &[u8],
        ) -> Zeroizing<Vec<u8>>;

        /// \[103\] `performHmac`.
        fn perform_hmac(
            &mut self,
            key_handle: KeyHandle,
            algorithm: &str,
            parameters: Option<&[u8]>,
            biometric_auth: bool,
            authorization: Option<&[u8]>,
            data: &[u8],
        ) -> Vec<u8>;

        /// \[104\] `symmetricKeyEncrypt`: `mode` true encrypts, false decrypts; `parameters`
        /// is the IV where the algorithm needs one.
        #[allow(clippy::too_many_arguments)]
        fn symmetric_key_encrypt(
            &mut self,
            key_handle: KeyHandle,
            algorithm: &str,
            mode: bool,
            parameters: Option<&[u8]>,
            biometric_auth: bool,
            authorization: Option<&[u8]>,
            data: &[u8],
        ) -> Zeroizing<Vec<u8>>;
    }
}
