// MARK: - Refusal

/// Why the server refused a request.
///
/// Every refusal travels as `{"status": "ERROR", "message": TEXT}`. The texts below are
/// the wire contract of PROTOCOL.md: the compatible core keeps the original server's
/// Indonesian wording byte for byte, and this table is the only place they are spelled.
public enum Refusal: Error, Hashable, Sendable, CaseIterable {
    // Compatible core.
    case unknownUser
    case wrongPassword
    case sessionNotFound
    case recipientNotFound
    case malformedRequest
    case notAuthorized
    // Extensions.
    case emptyMessage
    case tooManyRecipients
    case registrationClosed
    case invalidUsername
    case invalidPassword
    case userExists
    case invalidProfile
    // Limits and bad input.
    case requestTooLong
    case invalidEncoding
    case tooManyAttempts
    case serverFull
    // Infrastructure (store unavailable and the like).
    case serverFailure

    /// The text sent in the reply's `message` field.
    public var wireText: String {
        switch self {
        case .unknownUser: "User Tidak Ada"
        case .wrongPassword: "Password Salah"
        case .sessionNotFound: "Session Tidak Ditemukan"
        case .recipientNotFound: "User Tidak Ditemukan"
        case .malformedRequest: "Protocol Tidak Benar"
        case .notAuthorized: "not authorized"
        case .emptyMessage: "Pesan Kosong"
        case .tooManyRecipients: "Terlalu Banyak Penerima"
        case .registrationClosed: "Registrasi Ditutup"
        case .invalidUsername: "Username Tidak Valid"
        case .invalidPassword: "Password Tidak Valid"
        case .userExists: "User Sudah Ada"
        case .invalidProfile: "Profil Tidak Valid"
        case .requestTooLong: "Request Terlalu Panjang"
        case .invalidEncoding: "Encoding Tidak Valid"
        case .tooManyAttempts: "Terlalu Banyak Percobaan"
        case .serverFull: "Server Penuh"
        case .serverFailure: "Kesalahan Server"
        }
    }

    /// The refusal whose wire text is `text`, if any.
    public init?(wireText text: String) {
        guard let match = Self.allCases.first(where: { $0.wireText == text }) else { return nil }
        self = match
    }
}
