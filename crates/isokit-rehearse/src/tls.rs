//! The certificate authority of one rehearsal: made in memory, handed to the
//! task as a trusted CA, and gone when the rehearsal ends.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::Error;

pub(crate) struct RehearsalCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A stand-in's certificate and key, in PEM.
pub(crate) struct Leaf {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

fn certificate_error(err: rcgen::Error) -> Error {
    Error::Certificates(err.to_string())
}

impl RehearsalCa {
    pub(crate) fn new() -> Result<RehearsalCa, Error> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(certificate_error)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "isokit rehearsal CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().map_err(certificate_error)?;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(certificate_error)?;
        Ok(RehearsalCa { issuer })
    }

    pub(crate) fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `host`, signed by this CA.
    pub(crate) fn leaf(&self, host: &str) -> Result<Leaf, Error> {
        let params = CertificateParams::new(vec![host.to_owned()]).map_err(certificate_error)?;
        let key = KeyPair::generate().map_err(certificate_error)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(certificate_error)?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_name_their_host_and_chain_to_the_ca() {
        let ca = RehearsalCa::new().expect("CA");
        let leaf = ca.leaf("api.ecr.us-east-1.amazonaws.com").expect("leaf");
        assert!(ca.pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(leaf.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(leaf.key_pem.contains("PRIVATE KEY"));
        assert_ne!(leaf.cert_pem, ca.pem());
    }
}
