import KabarProtocol

extension SessionToken {
    /// A fresh random UUID v4 token from the system's secure random source.
    public static func random() -> SessionToken {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        // The version (4) is the 13th hex digit; the RFC 4122 variant the top two bits of the 17th.
        return SessionToken(
            high: high & ~0xF000 | 0x4000,
            low: low & ~(0xC0 << 56) | 0x80 << 56
        )
    }
}
