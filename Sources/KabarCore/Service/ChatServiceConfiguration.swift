// MARK: - ChatServiceConfiguration

/// The knobs of the chat service itself (the server's listeners have their own).
public struct ChatServiceConfiguration: Hashable, Sendable {
    /// Whether `register` creates accounts (`Registrasi Ditutup` otherwise).
    public var isRegistrationOpen: Bool
    /// A session expires after this long without use.
    public var sessionIdleLimit: Duration
    /// The most distinct recipients of one `send`.
    public var maximumRecipients: Int
    public var authThrottle: AuthThrottle.Configuration

    public init(
        isRegistrationOpen: Bool = true,
        sessionIdleLimit: Duration = .seconds(24 * 60 * 60),
        maximumRecipients: Int = 100,
        authThrottle: AuthThrottle.Configuration = .standard
    ) {
        self.isRegistrationOpen = isRegistrationOpen
        self.sessionIdleLimit = sessionIdleLimit
        self.maximumRecipients = maximumRecipients
        self.authThrottle = authThrottle
    }
}
