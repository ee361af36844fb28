import Crypto
import Foundation
import SwiftASN1
import X509

// MARK: - TestCertificates

/// A certificate authority and a server certificate for `localhost` and 127.0.0.1,
/// generated at test time and written as PEM files. No private key is committed.
public struct TestCertificates: Sendable {
    /// The CA certificate that clients trust.
    public let authorityPath: String
    public let certificatePath: String
    public let privateKeyPath: String

    /// Generates a fresh CA and a server certificate signed by it, in `directory`.
    /// - Parameter includesLoopbackAddress: whether the certificate also names 127.0.0.1
    ///   (without it, only the name `localhost` matches).
    public static func generate(
        in directory: String,
        name: String = "kabar",
        includesLoopbackAddress: Bool = true
    ) throws -> TestCertificates {
        var alternativeNames: [GeneralName] = [.dnsName("localhost")]
        if includesLoopbackAddress { alternativeNames.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))) }
        let now = Date()
        let authorityKey = P256.Signing.PrivateKey()
        let authorityName = try DistinguishedName {
            OrganizationName("Kabar tests")
            CommonName("\(name) test CA")
        }
        let authority = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(authorityKey.publicKey),
            notValidBefore: now - 3600,
            notValidAfter: now + 86_400,
            issuer: authorityName,
            subject: authorityName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true))
            },
            issuerPrivateKey: Certificate.PrivateKey(authorityKey)
        )
        let serverKey = P256.Signing.PrivateKey()
        let server = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(serverKey.publicKey),
            notValidBefore: now - 3600,
            notValidAfter: now + 86_400,
            issuer: authorityName,
            subject: try DistinguishedName { CommonName("localhost") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(alternativeNames)
            },
            issuerPrivateKey: Certificate.PrivateKey(authorityKey)
        )
        let paths = TestCertificates(
            authorityPath: directory + "/\(name)-ca.pem",
            certificatePath: directory + "/\(name)-server.pem",
            privateKeyPath: directory + "/\(name)-server-key.pem"
        )
        try authority.serializeAsPEM().pemString.write(toFile: paths.authorityPath, atomically: true, encoding: .utf8)
        try server.serializeAsPEM().pemString.write(toFile: paths.certificatePath, atomically: true, encoding: .utf8)
        try serverKey.pemRepresentation.write(toFile: paths.privateKeyPath, atomically: true, encoding: .utf8)
        return paths
    }
}
