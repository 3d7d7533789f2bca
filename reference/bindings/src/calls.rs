//! [`SksCall`] and [`SksReturn`]: every SKS method call and its result as a value, with the
//! APDU payload codec (binary) and the shim codec (JSON), plus [`SksCall::invoke`] (run a call
//! on any [`SecureKeyStore`]) and [`CallSks`] (implement [`SecureKeyStore`] by sending calls).
//!
//! The method table below is the single source of the argument order and names: the trait
//! signature, the owned field type, and the JSON member name of every argument.

use airtight_proto::codec::{Reader, Writer};
use airtight_proto::policy::EnumArg;
use airtight_proto::sks::{
    CreateKeyEntryParams, CreatePinPolicyParams, CreateProvisioningSessionParams,
    CreatePukPolicyParams, DeviceInfo, EnumeratedKey, EnumeratedProvisioningSession, Extension,
    ExtensionSubType, KeyAttributes, KeyData, KeyHandle, KeyProtectionInfo, PinPolicyHandle,
    ProvisioningHandle, ProvisioningSessionResult, PukPolicyHandle, SecureKeyStore, SksError,
    SksMethod,
};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::wire::sample::{Sample, SampleRng};
use crate::wire::{DecodeError, EncodeError, Wire};

/// Converts a trait argument into the owned field of an [`SksCall`].
pub trait IntoField<F> {
    /// The owned value.
    fn into_field(self) -> F;
}

/// Lends an [`SksCall`] field as the trait argument.
pub trait AsArg<'a, A> {
    /// The borrowed argument.
    fn as_arg(&'a self) -> A;
}

macro_rules! copy_field {
    ($($t:ty),+) => {$(
        impl IntoField<$t> for $t {
            fn into_field(self) -> $t { self }
        }
        impl<'a> AsArg<'a, $t> for $t {
            fn as_arg(&'a self) -> $t { *self }
        }
    )+};
}
copy_field!(
    bool,
    ProvisioningHandle,
    KeyHandle,
    PinPolicyHandle,
    PukPolicyHandle
);

impl IntoField<EnumArg<ExtensionSubType>> for EnumArg<ExtensionSubType> {
    fn into_field(self) -> EnumArg<ExtensionSubType> {
        self
    }
}
impl<'a> AsArg<'a, EnumArg<ExtensionSubType>> for EnumArg<ExtensionSubType> {
    fn as_arg(&'a self) -> EnumArg<ExtensionSubType> {
        self.clone()
    }
}

macro_rules! clone_field {
    ($($t:ty),+) => {$(
        impl IntoField<$t> for &$t {
            fn into_field(self) -> $t { self.clone() }
        }
        impl<'a> AsArg<'a, &'a $t> for $t {
            fn as_arg(&'a self) -> &'a $t { self }
        }
    )+};
}
clone_field!(
    CreateProvisioningSessionParams,
    CreatePukPolicyParams,
    CreatePinPolicyParams,
    CreateKeyEntryParams
);

impl IntoField<Vec<u8>> for &[u8] {
    fn into_field(self) -> Vec<u8> {
        self.to_vec()
    }
}
impl<'a> AsArg<'a, &'a [u8]> for Vec<u8> {
    fn as_arg(&'a self) -> &'a [u8] {
        self
    }
}
impl IntoField<String> for &str {
    fn into_field(self) -> String {
        self.to_owned()
    }
}
impl<'a> AsArg<'a, &'a str> for String {
    fn as_arg(&'a self) -> &'a str {
        self
    }
}
impl IntoField<Option<Vec<u8>>> for Option<&[u8]> {
    fn into_field(self) -> Option<Vec<u8>> {
        self.map(<[u8]>::to_vec)
    }
}
impl<'a> AsArg<'a, Option<&'a [u8]>> for Option<Vec<u8>> {
    fn as_arg(&'a self) -> Option<&'a [u8]> {
        self.as_deref()
    }
}
impl IntoField<Vec<Vec<u8>>> for &[Vec<u8>] {
    fn into_field(self) -> Vec<Vec<u8>> {
        self.to_vec()
    }
}
impl<'a> AsArg<'a, &'a [Vec<u8>]> for Vec<Vec<u8>> {
    fn as_arg(&'a self) -> &'a [Vec<u8>] {
        self
    }
}

/// The method table, handed to a callback macro: `Variant = trait_fn(arg "jsonName": TraitArg
/// => OwnedField, ...) -> Result;`, in PDF method-number order.
macro_rules! for_each_sks_method {
    ($cb:ident ! { $($pre:tt)* }) => {
        $cb! { { $($pre)* }
            GetDeviceInfo = get_device_info() -> DeviceInfo;
            CreateProvisioningSession = create_provisioning_session(
                params "": &CreateProvisioningSessionParams => CreateProvisioningSessionParams,
            ) -> ProvisioningSessionResult;
            CloseProvisioningSession = close_provisioning_session(
                provisioning_handle "provisioningHandle": ProvisioningHandle => ProvisioningHandle,
                nonce "nonce": &[u8] => Vec<u8>,
                mac "mac": &[u8] => Vec<u8>,
            ) -> Vec<u8>;
            EnumerateProvisioningSessions = enumerate_provisioning_sessions(
                provisioning_handle "provisioningHandle": ProvisioningHandle => ProvisioningHandle,
                provisioning_state "provisioningState": bool => bool,
            ) -> Option<EnumeratedProvisioningSession>;
            AbortProvisioningSession = abort_provisioning_session(
                provisioning_handle "provisioningHandle": ProvisioningHandle => ProvisioningHandle,
            ) -> ();
            UpdateKeyManagementKey = update_key_management_key(
                provisioning_handle "provisioningHandle": ProvisioningHandle => ProvisioningHandle,
                key_management_key "keyManagementKey": &[u8] => Vec<u8>,
                authorization "authorization": &[u8] => Vec<u8>,
            ) -> ();
            CreatePukPolicy = create_puk_policy(
                params "": &CreatePukPolicyParams => CreatePukPolicyParams,
            ) -> PukPolicyHandle;
            CreatePinPolicy = create_pin_policy(
                params "": &CreatePinPolicyParams => CreatePinPolicyParams,
            ) -> PinPolicyHandle;
            CreateKeyEntry = create_key_entry(
                params "": &CreateKeyEntryParams => CreateKeyEntryParams,
            ) -> KeyData;
            GetKeyHandle = get_key_handle(
                provisioning_handle "provisioningHandle": ProvisioningHandle => ProvisioningHandle,
                id "id": &str => String,
            ) -> KeyHandle;
            SetCertificatePath = set_certificate_path(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                certificate_path "certificatePath": &[Vec<u8>] => Vec<Vec<u8>>,
                mac "mac": &[u8] => Vec<u8>,
            ) -> ();
            ImportSymmetricKey = import_symmetric_key(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                encrypted_key "encryptedKey": &[u8] => Vec<u8>,
                mac "mac": &[u8] => Vec<u8>,
            ) -> ();
            ImportPrivateKey = import_private_key(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                encrypted_key "encryptedKey": &[u8] => Vec<u8>,
                mac "mac": &[u8] => Vec<u8>,
            ) -> ();
            AddExtension = add_extension(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                type_uri "type": &str => String,
                sub_type "subType": airtight_proto::policy::EnumArg<ExtensionSubType>
                    => airtight_proto::policy::EnumArg<ExtensionSubType>,
                qualifier "qualifier": &str => String,
                extension_data "extensionData": &[u8] => Vec<u8>,
                mac "mac": &[u8] => Vec<u8>,
            ) -> ();
            PostDeleteKey = post_delete_key(
                provisioning_handle "provisioningHandle": ProvisioningHandle => ProvisioningHandle,
                target_key_handle "targetKeyHandle": KeyHandle => KeyHandle,
                authorization "authorization": &[u8] => Vec<u8>,
                mac "mac": &[u8] => Vec<u8>,
            ) -> ();
            PostUnlockKey = post_unlock_key(
                provisioning_handle "provisioningHandle": ProvisioningHandle => ProvisioningHandle,
                target_key_handle "targetKeyHandle": KeyHandle => KeyHandle,
                authorization "authorization": &[u8] => Vec<u8>,
                mac "mac": &[u8] => Vec<u8>,
            ) -> ();
            PostUpdateKey = post_update_key(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                target_key_handle "targetKeyHandle": KeyHandle => KeyHandle,
                authorization "authorization": &[u8] => Vec<u8>,
                mac "mac": &[u8] => Vec<u8>,
            ) -> ();
            PostCloneKeyProtection = post_clone_key_protection(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                target_key_handle "targetKeyHandle": KeyHandle => KeyHandle,
                authorization "authorization": &[u8] => Vec<u8>,
                mac "mac": &[u8] => Vec<u8>,
            ) -> ();
            EnumerateKeys = enumerate_keys(
                key_handle "keyHandle": KeyHandle => KeyHandle,
            ) -> Option<EnumeratedKey>;
            GetKeyAttributes = get_key_attributes(
                key_handle "keyHandle": KeyHandle => KeyHandle,
            ) -> KeyAttributes;
            GetKeyProtectionInfo = get_key_protection_info(
                key_handle "keyHandle": KeyHandle => KeyHandle,
            ) -> KeyProtectionInfo;
            GetExtension = get_extension(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                type_uri "type": &str => String,
            ) -> Extension;
            SetProperty = set_property(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                type_uri "type": &str => String,
                name "name": &str => String,
                value "value": &str => String,
            ) -> ();
            DeleteKey = delete_key(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                authorization "authorization": Option<&[u8]> => Option<Vec<u8>>,
            ) -> ();
            ExportKey = export_key(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                authorization "authorization": Option<&[u8]> => Option<Vec<u8>>,
            ) -> Zeroizing<Vec<u8>>;
            UnlockKey = unlock_key(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                authorization "authorization": &[u8] => Vec<u8>,
            ) -> ();
            ChangePin = change_pin(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                authorization "authorization": &[u8] => Vec<u8>,
                new_pin "newPin": &[u8] => Vec<u8>,
            ) -> ();
            SetPin = set_pin(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                authorization "authorization": &[u8] => Vec<u8>,
                new_pin "newPin": &[u8] => Vec<u8>,
            ) -> ();
            UpdateFirmware = update_firmware(
                chunk "chunk": &[u8] => Vec<u8>,
            ) -> String;
            SignData = sign_data(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                algorithm "algorithm": &str => String,
                parameters "parameters": Option<&[u8]> => Option<Vec<u8>>,
                biometric_auth "biometricAuth": bool => bool,
                authorization "authorization": Option<&[u8]> => Option<Vec<u8>>,
                data "data": &[u8] => Vec<u8>,
            ) -> Vec<u8>;
            AsymmetricKeyDecrypt = asymmetric_key_decrypt(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                algorithm "algorithm": &str => String,
                parameters "parameters": Option<&[u8]> => Option<Vec<u8>>,
                biometric_auth "biometricAuth": bool => bool,
                authorization "authorization": Option<&[u8]> => Option<Vec<u8>>,
                data "data": &[u8] => Vec<u8>,
            ) -> Zeroizing<Vec<u8>>;
            KeyAgreement = key_agreement(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                algorithm "algorithm": &str => String,
                parameters "parameters": Option<&[u8]> => Option<Vec<u8>>,
                biometric_auth "biometricAuth": bool => bool,
                authorization "authorization": Option<&[u8]> => Option<Vec<u8>>,
                public_key "publicKey": &[u8] => Vec<u8>,
            ) -> Zeroizing<Vec<u8>>;
            PerformHmac = perform_hmac(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                algorithm "algorithm": &str => String,
                parameters "parameters": Option<&[u8]> => Option<Vec<u8>>,
                biometric_auth "biometricAuth": bool => bool,
                authorization "authorization": Option<&[u8]> => Option<Vec<u8>>,
                data "data": &[u8] => Vec<u8>,
            ) -> Vec<u8>;
            SymmetricKeyEncrypt = symmetric_key_encrypt(
                key_handle "keyHandle": KeyHandle => KeyHandle,
                algorithm "algorithm": &str => String,
                mode "mode": bool => bool,
                parameters "parameters": Option<&[u8]> => Option<Vec<u8>>,
                biometric_auth "biometricAuth": bool => bool,
                authorization "authorization": Option<&[u8]> => Option<Vec<u8>>,
                data "data": &[u8] => Vec<u8>,
            ) -> Zeroizing<Vec<u8>>;
        }
    };
}

macro_rules! define_calls {
    ({} $( $var:ident = $fn:ident ( $( $arg:ident $json:literal : $aty:ty => $fty:ty ),* $(,)? ) -> $ret:ty ; )+) => {
        /// One SKS method call with its (owned) arguments.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum SksCall {
            $( $var { $( $arg: $fty ),* }, )+
        }

        /// The result of one successful SKS method call.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum SksReturn {
            $( $var($ret), )+
        }

        impl SksCall {
            /// The method.
            pub fn method(&self) -> SksMethod {
                match self { $( SksCall::$var { .. } => SksMethod::$var, )+ }
            }

            /// The APDU command payload: the arguments in order ([APDU-ENC-001]).
            pub fn encode_payload(&self) -> Result<Vec<u8>, EncodeError> {
                let mut w = Writer::new();
                match self {
                    $( SksCall::$var { $( $arg ),* } => {
                        $( Wire::put($arg, &mut w, $json)?; )*
                    } )+
                }
                Ok(w.into_bytes())
            }

            /// Decodes an APDU command payload of `method`, strictly (no trailing bytes).
            pub fn decode_payload(method: SksMethod, payload: &[u8]) -> Result<Self, DecodeError> {
                let mut r = Reader::new(payload);
                let call = match method {
                    $( SksMethod::$var => SksCall::$var { $( $arg: <$fty as Wire>::get(&mut r, $json)? ),* }, )+
                };
                r.finish().map_err(|e| match e {
                    airtight_proto::codec::ReadError::Trailing(n) => DecodeError::Trailing(n),
                    other => DecodeError::Read { field: "payload", source: other },
                })?;
                Ok(call)
            }

            /// The shim `params` object ([SHIM-ENC-001]).
            pub fn to_json_params(&self) -> Value {
                #[allow(unused_mut)]
                let mut m = Map::new();
                match self {
                    $( SksCall::$var { $( $arg ),* } => {
                        $( Wire::json_put($arg, $json, &mut m); )*
                    } )+
                }
                Value::Object(m)
            }

            /// Decodes the shim `params` of `method`, strictly (every member present, no others).
            pub fn from_json_params(method: SksMethod, params: &Value) -> Result<Self, DecodeError> {
                #[allow(unused_mut)]
                let mut m = params
                    .as_object()
                    .ok_or_else(|| DecodeError::Json { field: "params", reason: "expected an object".into() })?
                    .clone();
                let call = match method {
                    $( SksMethod::$var => SksCall::$var { $( $arg: <$fty as Wire>::json_take(&mut m, $json)? ),* }, )+
                };
                match m.keys().next() {
                    Some(k) => Err(DecodeError::UnknownMember(k.clone())),
                    None => Ok(call),
                }
            }

            /// A sample call of `method` (deterministic from `r`), for tests and benchmarks.
            #[doc(hidden)]
            pub fn sample(method: SksMethod, r: &mut SampleRng) -> Self {
                match method {
                    $( SksMethod::$var => SksCall::$var { $( $arg: <$fty as Sample>::sample(r) ),* }, )+
                }
            }

            /// Runs this call on `store`.
            pub fn invoke<S: SecureKeyStore + ?Sized>(&self, store: &mut S) -> Result<SksReturn, SksError> {
                match self {
                    $( SksCall::$var { $( $arg ),* } => {
                        Ok(SksReturn::$var(store.$fn($( AsArg::as_arg($arg) ),*)?))
                    } )+
                }
            }
        }

        impl SksReturn {
            /// The method this is the result of.
            pub fn method(&self) -> SksMethod {
                match self { $( SksReturn::$var(_) => SksMethod::$var, )+ }
            }

            /// The APDU response payload ([APDU-ENC-001]).
            pub fn encode_payload(&self) -> Result<Vec<u8>, EncodeError> {
                let mut w = Writer::new();
                match self { $( SksReturn::$var(v) => Wire::put(v, &mut w, "result")?, )+ }
                Ok(w.into_bytes())
            }

            /// Decodes the APDU response payload of `method`, strictly.
            pub fn decode_payload(method: SksMethod, payload: &[u8]) -> Result<Self, DecodeError> {
                let mut r = Reader::new(payload);
                let ret = match method {
                    $( SksMethod::$var => SksReturn::$var(<$ret as Wire>::get(&mut r, "result")?), )+
                };
                r.finish().map_err(|e| match e {
                    airtight_proto::codec::ReadError::Trailing(n) => DecodeError::Trailing(n),
                    other => DecodeError::Read { field: "result", source: other },
                })?;
                Ok(ret)
            }

            /// A sample result of `method` (deterministic from `r`).
            #[doc(hidden)]
            pub fn sample(method: SksMethod, r: &mut SampleRng) -> Self {
                match method {
                    $( SksMethod::$var => SksReturn::$var(<$ret as Sample>::sample(r)), )+
                }
            }

            /// The shim `result` value ([SHIM-ENC-001]).
            pub fn to_json(&self) -> Value {
                match self { $( SksReturn::$var(v) => Wire::to_json(v), )+ }
            }

            /// Decodes the shim `result` of `method`, strictly.
            pub fn from_json(method: SksMethod, v: &Value) -> Result<Self, DecodeError> {
                Ok(match method {
                    $( SksMethod::$var => SksReturn::$var(<$ret as Wire>::from_json(v, "result")?), )+
                })
            }
        }
    };
}

for_each_sks_method!(define_calls! {});

/// Something that carries one [`SksCall`] to an SKS and brings its result back (a card over
/// APDUs, a shim process, a script). Wrap it in [`CallAdapter`] to get a [`SecureKeyStore`].
pub trait CallSks {
    /// Performs `call`; the result must be the variant of the same method.
    fn call(&mut self, call: SksCall) -> Result<SksReturn, SksError>;
}

/// The error for a result of the wrong method (a broken peer).
pub(crate) fn mismatch(expected: SksMethod, got: SksMethod) -> SksError {
    SksError::internal(format!(
        "binding returned a {got} result to a {expected} call"
    ))
}

macro_rules! impl_sks_via_call {
    ({ [$($gen:tt)*] $ty:ty } $( $var:ident = $fn:ident ( $( $arg:ident $json:literal : $aty:ty => $fty:ty ),* $(,)? ) -> $ret:ty ; )+) => {
        const _: () = {
        #[allow(unused_imports)]
        use ::airtight_proto::sks::*;
        use $crate::calls::{CallSks, IntoField, SksCall, SksReturn};
        use ::zeroize::Zeroizing;
        impl $($gen)* SecureKeyStore for $ty {
            $(
                #[allow(clippy::too_many_arguments)]
                fn $fn(&mut self $(, $arg: $aty)*) -> Result<$ret, SksError> {
                    let call = SksCall::$var { $( $arg: IntoField::into_field($arg) ),* };
                    match CallSks::call(self, call)? {
                        SksReturn::$var(v) => Ok(v),
                        other => Err($crate::calls::mismatch(SksMethod::$var, other.method())),
                    }
                }
            )+
        }
        };
    };
}

/// Implements [`SecureKeyStore`] for a type that implements [`CallSks`]:
/// `impl_secure_key_store_via_call!([<T: Bound>] MyType<T>)`.
macro_rules! impl_secure_key_store_via_call {
    ([$($gen:tt)*] $ty:ty) => {
        $crate::calls::for_each_sks_method!(impl_sks_via_call! { [$($gen)*] $ty });
    };
}

pub(crate) use for_each_sks_method;
pub(crate) use impl_secure_key_store_via_call;
pub(crate) use impl_sks_via_call;

/// A [`SecureKeyStore`] over any [`CallSks`]: every trait method becomes one [`SksCall`].
#[derive(Debug, Default, Clone)]
pub struct CallAdapter<C>(pub C);

impl<C: CallSks> CallSks for CallAdapter<C> {
    fn call(&mut self, call: SksCall) -> Result<SksReturn, SksError> {
        self.0.call(call)
    }
}

impl_secure_key_store_via_call!([<C: CallSks>] CallAdapter<C>);

/// A scripted SKS for tests and harnesses: records every call and answers from a queue.
#[derive(Debug, Default)]
pub struct ScriptedSks {
    /// The calls received, in order.
    pub calls: Vec<SksCall>,
    /// The answers still to give, front first; an empty queue answers `ERROR_INTERNAL`.
    pub replies: std::collections::VecDeque<Result<SksReturn, SksError>>,
}

impl CallSks for ScriptedSks {
    fn call(&mut self, call: SksCall) -> Result<SksReturn, SksError> {
        self.calls.push(call);
        self.replies
            .pop_front()
            .unwrap_or_else(|| Err(SksError::internal("ScriptedSks: no reply queued")))
    }
}

impl_secure_key_store_via_call!([] ScriptedSks);

/// A stateless sample SKS for binding tests: answers every call with
/// [`SksReturn::sample`] seeded by a hash of the call's payload, so the caller can compute the
/// expected answer with [`SampleSks::expected`]. A call whose string or byte arguments contain
/// the text `FAIL` fails with `ERROR_CRYPTO`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SampleSks;

impl SampleSks {
    /// The answer [`SampleSks`] gives to `call`.
    pub fn expected(call: &SksCall) -> Result<SksReturn, SksError> {
        let payload = call
            .encode_payload()
            .map_err(|e| SksError::option(e.to_string()))?;
        if payload.windows(4).any(|w| w == b"FAIL") {
            return Err(SksError::crypto(format!("{} asked to fail", call.method())));
        }
        // FNV-1a.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in &payload {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= u64::from(call.method().number());
        Ok(SksReturn::sample(call.method(), &mut SampleRng::new(h)))
    }
}

impl CallSks for SampleSks {
    fn call(&mut self, call: SksCall) -> Result<SksReturn, SksError> {
        SampleSks::expected(&call)
    }
}

impl_secure_key_store_via_call!([] SampleSks);
