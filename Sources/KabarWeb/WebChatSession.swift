import HummingbirdWebSocket
import KabarCore
import KabarProtocol
import KabarServer
import Logging
import NIOCore
import NIOWebSocket

// MARK: - WebChatSession

/// One browser's WebSocket: each text frame is one request line, answered through the same
/// chat service as TCP, one request at a time, with the same limits (PROTOCOL.md, "Web
/// gateway"): the line limit applies to a frame, flood control delays reading, an idle
/// WebSocket is closed, and the per-address connection limits count it with TCP ones.
struct WebChatSession {
    let configuration: WebGatewayConfiguration
    let dispatcher: RequestDispatcher
    let admission: AdmissionControl
    let clientAddress: String
    let logger: Logger

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        if case .refused(let reason) = admission.admit(clientAddress) {
            ServerMetrics.connectionRefused(reason)
            logger.notice("web connection refused: over a connection limit", metadata: ["peer": "\(clientAddress)"])
            try? await outbound.write(.text(WebFrames.text(of: .refused(.serverFull))))
            try? await outbound.close(.policyViolation, reason: "Server Penuh")
            return
        }
        ServerMetrics.connectionOpened()
        var connection = dispatcher.service.newConnection(clientAddress: clientAddress)
        let logger = {
            var logger = self.logger
            logger[metadataKey: "connection"] = "\(connection.id)"
            return logger
        }()
        logger.info("web connection opened", metadata: ["peer": "\(clientAddress)"])
        let outbox = WebOutbox(writer: outbound) {
            ServerMetrics.subscriberCutOff()
            logger.notice("slow web subscriber disconnected")
            Task { try? await outbound.close(.policyViolation, reason: "too many unread events") }
        }
        let lastActivity = Locked(ContinuousClock.now)
        let idleTimeout = configuration.idleTimeout
        let watchdog = Task {
            while !Task.isCancelled {
                let idleSince = lastActivity.withLock { $0 }
                if ContinuousClock.now - idleSince >= idleTimeout {
                    try? await outbound.close(.normalClosure, reason: "idle")
                    return
                }
                try? await Task.sleep(until: idleSince + idleTimeout, clock: .continuous)
            }
        }
        var sink: WebEventSink?
        var bucket = configuration.requestsPerSecond.map {
            TokenBucket(rate: Double($0), burst: Double(max(1, configuration.requestBurst)), now: .now())
        }
        var message = ByteBuffer()
        var isBinary = false
        do {
            for try await frame in inbound {
                lastActivity.withLock { $0 = .now }
                switch frame.opcode {
                case .text, .binary:
                    message = frame.data
                    isBinary = frame.opcode == .binary
                case .continuation:
                    var data = frame.data
                    message.writeBuffer(&data)
                }
                guard frame.fin else {
                    if message.readableBytes > configuration.maximumFrameSize { break }
                    continue
                }
                if var limiter = bucket {
                    limiter.spend(at: .now())
                    let delay = limiter.delayUntilAvailable(at: .now())
                    bucket = limiter
                    if delay > .zero { try await Task.sleep(for: .nanoseconds(delay.nanoseconds)) }
                }
                let start = ServerMetrics.requestStarted()
                guard let (command, request) = parse(message, isBinary: isBinary) else { continue }
                var created: WebEventSink?
                var reply: Reply
                switch request {
                case .failure(let refusal):
                    reply = .refused(refusal)
                case .success(let request):
                    do {
                        reply = try await dispatcher.respond(to: request, on: &connection) {
                            let new = WebEventSink(outbox: outbox)
                            created = new
                            return new
                        }
                    } catch {
                        logger.error("request failed", metadata: ["error": "\(error)"])
                        reply = .refused(.serverFailure)
                    }
                }
                ServerMetrics.requestAnswered(command, reply, startedAt: start)
                switch reply {
                case .subscribed:
                    sink?.end()
                    sink = created
                case .unsubscribed, .loggedIn:
                    sink?.end()
                    sink = nil
                default:
                    break
                }
                try await outbox.reply(WebFrames.text(of: reply))
                if case .subscribed = reply { sink?.replyWritten() }
            }
        } catch {
            logger.debug("web connection ended with an error", metadata: ["error": "\(error)"])
        }
        watchdog.cancel()
        sink?.end()
        outbox.close()
        dispatcher.service.connectionClosed(connection)
        admission.release(clientAddress)
        ServerMetrics.connectionClosed()
        logger.info("web connection closed")
    }

    /// A frame's request: nil for an empty line (no reply, as on TCP); the refusal for a
    /// binary frame, one over the line limit, one with a line break, or bad UTF-8.
    private func parse(_ message: ByteBuffer, isBinary: Bool) -> (ServerMetrics.Command, Result<Request, Refusal>)? {
        guard !isBinary else { return (.invalid, .failure(.malformedRequest)) }
        guard message.readableBytes <= configuration.maximumLineLength else { return (.invalid, .failure(.requestTooLong)) }
        if message.readableBytesView.contains(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
            return (.invalid, .failure(.malformedRequest))
        }
        switch RequestParser.parse(line: message) {
        case nil: return nil
        case .failure(let refusal)?: return (.invalid, .failure(refusal))
        case .success(let request)?: return (ServerMetrics.Command(request), .success(request))
        }
    }
}
