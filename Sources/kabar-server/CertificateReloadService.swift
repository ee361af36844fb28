import KabarServer
import Logging
import ServiceLifecycle
import UnixSignals

// MARK: - CertificateReloadService

/// Rereads the TLS certificate and key on SIGHUP; open connections are not touched.
struct CertificateReloadService: Service {
    let credentials: TLSCredentials
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            do {
                try credentials.reload()
                logger.info("TLS certificate reloaded", metadata: ["certificate": "\(credentials.certificatePath)"])
            } catch {
                logger.error("TLS certificate reload failed; keeping the previous one", metadata: ["error": "\(error)"])
            }
        }
    }
}
