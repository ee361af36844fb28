// What a request costs SwiftNIO itself: a probe to weigh Kabar's `ping` against, as
// scripts/single-thread-floor.c weighs its durable `send`. Not a chat server.
//
//     swift build -c release --package-path scripts/nio-floor
//     scripts/nio-floor/.build/release/nio-floor PORT [EVENT_LOOPS] [redis|kabar]
//     chatload --mode redis --port PORT --op ping --conns 50 --pipeline 1
//     chatload --mode progjar --token 00000000-0000-0000-0000-000000000000 --port PORT --op ping …   (with kabar)
//
// One handler answers every line it reads with Redis's `+PONG`, so chatload's `redis` mode
// drives it exactly as it drives Redis: no parsing, no state, one write per read, with the
// channel options Kabar's listener sets. It runs one event loop per core, as
// `kabar-server` does by default; EVENT_LOOPS changes that. With `kabar` it answers every
// line with Kabar's `ping` reply instead, `{"status": "OK", "message": "PONG"}` and a blank
// line, so that chatload's `progjar` mode drives it as it drives Kabar, handshake included
// (`--token` makes it a `show`, which any OK reply answers): what chatload itself allows
// on Kabar's protocol.
import NIOCore
import NIOPosix

/// Counts the lines of each read and answers them all at the read's end, in one write.
final class PongHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private static let newline = UInt8(ascii: "\n")
    private let reply: StaticString
    private var unanswered = 0

    init(reply: StaticString) {
        self.reply = reply
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data).readableBytesView
        unanswered += bytes.reduce(0) { $1 == Self.newline ? $0 + 1 : $0 }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard unanswered > 0 else { return }
        var replies = context.channel.allocator.buffer(capacity: reply.utf8CodeUnitCount * unanswered)
        for _ in 0..<unanswered { replies.writeStaticString(reply) }
        unanswered = 0
        context.writeAndFlush(wrapOutboundOut(replies), promise: nil)
    }
}

let arguments = CommandLine.arguments.dropFirst()
guard let port = arguments.first.flatMap({ Int($0) }) else {
    print("usage: nio-floor PORT [EVENT_LOOPS] [redis|kabar]")
    exit(2)
}
let eventLoops = arguments.dropFirst().first.flatMap { Int($0) } ?? System.coreCount
let reply: StaticString = arguments.dropFirst(2).first == "kabar" ? "{\"status\": \"OK\", \"message\": \"PONG\"}\r\n\r\n" : "+PONG\r\n"
let group = MultiThreadedEventLoopGroup(numberOfThreads: eventLoops)
let listener = try ServerBootstrap(group: group)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .serverChannelOption(.backlog, value: 1024)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65_536))
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(PongHandler(reply: reply)) }
    }
    .bind(host: "127.0.0.1", port: port)
    .wait()
try listener.closeFuture.wait()
