import Foundation
import KabarCore
import KabarProtocol
import KabarTestSupport
import Testing

/// PROTOCOL.md, "Several nodes": real `kabar-server` processes on one PostgreSQL database,
/// driven through real sockets, the clients of one conversation on different nodes.
extension PostgresTests {
    @Suite("Several nodes on one database")
    struct SeveralNodes {
        /// Starts `count` nodes at the same moment on a new database (so also racing to
        /// create its schema and the demo users), and stops them after `body`.
        func withNodes(_ count: Int = 3, _ body: ([ServerProcess], String) async throws -> Void) async throws {
            let cluster = try await PostgresCluster.shared()
            let url = cluster.url(of: try await cluster.newDatabase())
            let nodes = try await (0..<count).map { $0 }.concurrentMap { _ in
                try await ServerProcess(arguments: ["--demo", "--database", url])
            }
            do {
                try await body(nodes, url)
            } catch {
                for node in nodes { _ = try? await node.stop(signal: SIGKILL) }
                throw error
            }
            for node in nodes where node.isRunning { #expect(try await node.stop() == 0, "\(node.log)") }
        }

        @Test("the compatible core with the two clients on different nodes; show on a third lists both, in order")
        func compatibleCore() async throws {
            try await withNodes { nodes, _ in
                let messi = try await RawClient.connect(port: nodes[0].port)
                let messiToken = try await messi.login("messi")
                let henderson = try await RawClient.connect(port: nodes[1].port)
                _ = try await henderson.login("henderson")
                #expect(try await messi.request("send henderson hello gimana kabarnya son") == Expected.messageSent)
                #expect(try await messi.request("send henderson,lineker dua") == Expected.messageSent)
                let inbox = try await henderson.request("inbox")
                #expect(Expected.positions(ofMessages: ["hello gimana kabarnya son", "dua"], inInbox: inbox).allSatisfy { $0 != nil }, "\(inbox)")

                let watcher = try await RawClient.connect(port: nodes[2].port)
                _ = try await watcher.login("lineker")
                let expected = #"{"status": "OK", "message": [{"username": "messi", "name": "Lionel Messi", "negara": "Argentina"}, {"username": "henderson", "name": "Jordan Henderson", "negara": "Inggris"}, {"username": "lineker", "name": "Gary Lineker", "negara": "Inggris"}]}"# + "\r\n\r\n"
                #expect(try await eventually { try await watcher.request("show") == expected })
                #expect(try await watcher.request("inbox").contains("\"msg\": \"dua\""))

                // A logout on one node: the very next request with the token, on another, is refused.
                let elsewhere = try await RawClient.connect(port: nodes[1].port)
                #expect(try await elsewhere.request("inbox \(messiToken)") == Expected.emptyInbox)
                #expect(try await messi.request("logout") == Expected.okMessage(messiToken))
                #expect(try await elsewhere.request("inbox \(messiToken)") == Expected.error("Session Tidak Ditemukan"))
                #expect(try await henderson.request("send \(messiToken) henderson x") == Expected.error("Session Tidak Ditemukan"))
                // messi's only connection is now unbound: offline everywhere within 2 s.
                #expect(try await eventually { try await watcher.request("show").contains("messi") == false })
            }
        }

        @Test("the extensions across nodes: register, bound connections, history, conversations, ack, a removed user")
        func extensions() async throws {
            try await withNodes { nodes, url in
                let a = try await RawClient.connect(port: nodes[0].port)
                #expect(try await a.request(#"register budi rahasia123 "Budi Santoso" Indonesia"#) == Expected.okMessage("User Registered"))
                let b = try await RawClient.connect(port: nodes[1].port)
                #expect(try await b.request(#"register budi another12 "Budi Lain" Indonesia"#) == Expected.error("User Sudah Ada"))
                let budiToken = try await b.login("budi", password: "rahasia123")
                #expect(try await b.request("send messi,henderson halo dari budi") == Expected.messageSent)  // bound: no token

                let c = try await RawClient.connect(port: nodes[2].port)
                _ = try await c.login("messi")
                let history = try await c.readJSON("history budi")
                #expect(history["with"]?.stringValue == "budi" && history.messages.first?["msg"]?.stringValue == "halo dari budi")
                #expect(Self.unreadCounts(try await c.readJSON("conversations")) == [1])
                let id = try #require(history.messages.first?["id"]?.integerValue)
                #expect(try await c.request("ack \(id)") == Expected.acked(1))
                #expect(Self.unreadCounts(try await c.readJSON("conversations")) == [0])

                // The bound session ends elsewhere: the next tokenless request says so, then not authorized.
                #expect(try await a.request("logout \(budiToken)") == Expected.okMessage(budiToken))
                #expect(try await b.request("inbox") == Expected.error("Session Tidak Ditemukan"))
                #expect(try await b.request("inbox") == Expected.error("not authorized"))

                // A user removed with `kabar-server user remove`: refused on every node before the command exits.
                let lineker = try await RawClient.connect(port: nodes[0].port)
                let linekerToken = try await lineker.login("lineker")
                #expect(try await lineker.request("inbox") == Expected.emptyInbox)
                let removal = try await runProduct("kabar-server", ["user", "remove", "lineker", "--database", url])
                #expect(removal.status == 0, "\(removal.errorOutput)")
                for node in nodes {
                    let client = try await RawClient.connect(port: node.port)
                    #expect(try await client.request("inbox \(linekerToken)") == Expected.error("Session Tidak Ditemukan"))
                }
                #expect(try await c.request("send lineker gone?") == Expected.error("User Tidak Ditemukan"))
            }
        }

        /// The `unread` counts of a `conversations` reply, in its order.
        static func unreadCounts(_ reply: JSONValue) -> [Int] {
            guard case .array(let entries)? = reply["conversations"] else { return [] }
            return entries.compactMap { $0["unread"]?.integerValue }
        }

        @Test("a message sent on one node is pushed to subscribers on the others, each once, in id order")
        func liveDelivery() async throws {
            try await withNodes { nodes, _ in
                let subscribers = try await [nodes[1], nodes[2]].concurrentMap { node in
                    let client = try await RawClient.connect(port: node.port)
                    _ = try await client.login("henderson")
                    #expect(try await client.request("subscribe") == Expected.subscribed(unread: 0))
                    return client
                }
                let senders = try await [(nodes[0], "messi"), (nodes[2], "lineker")].concurrentMap { node, user in
                    let client = try await RawClient.connect(port: node.port)
                    _ = try await client.login(user)
                    return client
                }
                _ = try await Array(senders.enumerated()).concurrentMap { (index, client) async throws in
                    for number in 0..<50 { #expect(try await client.request("send henderson s\(index)-\(number)") == Expected.messageSent) }
                }
                for subscriber in subscribers {
                    let frames = try await subscriber.readFrames(100)
                    #expect(frames.allSatisfy { $0.event == "message" })
                    #expect(Set(frames.compactMap(\.text)).count == 100)
                    #expect(frames.map(\.id) == frames.map(\.id).sorted())
                    #expect(try await subscriber.request("ping") == Expected.pong, "no event twice")
                }
            }
        }

        @Test("presence events cross nodes: users coming online and going offline anywhere; a second connection elsewhere is no event")
        func presenceEvents() async throws {
            try await withNodes(2) { nodes, _ in
                let watcher = try await RawClient.connect(port: nodes[1].port)
                _ = try await watcher.login("lineker")
                #expect(try await watcher.request("subscribe presence") == Expected.subscribed(unread: 0))

                let messi = try await RawClient.connect(port: nodes[0].port)
                _ = try await messi.login("messi")
                var frame = try await watcher.readFrame(timeout: .seconds(5))
                #expect(frame.event == "presence" && frame.json["username"]?.stringValue == "messi" && frame.json["online"] == .bool(true), "\(frame.raw)")

                let henderson = try await RawClient.connect(port: nodes[1].port)
                _ = try await henderson.login("henderson")
                frame = try await watcher.readFrame(timeout: .seconds(5))
                #expect(frame.json["username"]?.stringValue == "henderson" && frame.json["online"] == .bool(true), "\(frame.raw)")
                let hendersonElsewhere = try await RawClient.connect(port: nodes[0].port)
                _ = try await hendersonElsewhere.login("henderson")

                await messi.close()
                frame = try await watcher.readFrame(timeout: .seconds(5))
                #expect(frame.json["username"]?.stringValue == "messi" && frame.json["online"] == .bool(false), "\(frame.raw)")
                try await Task.sleep(for: .seconds(1.5))  // another node's news takes a moment to arrive
                #expect(try await watcher.request("ping") == Expected.pong, "henderson's second connection was no event")
            }
        }

        @Test("10 failed logins spread over the nodes trip the throttle on every node")
        func throttle() async throws {
            try await withNodes { nodes, _ in
                let clients = try await nodes.concurrentMap { try await RawClient.connect(port: $0.port) }
                for attempt in 0..<10 {
                    #expect(try await clients[attempt % 3].request("auth messi wrong-password") == Expected.error("Password Salah"))
                }
                for client in clients {
                    #expect(try await client.request("auth messi surabaya") == Expected.error("Terlalu Banyak Percobaan"))
                }
            }
        }

        @Test("a new password from `kabar-server user passwd`: every node refuses the old sessions before the command exits")
        func passwordChange() async throws {
            try await withNodes { nodes, url in
                var tokens: [String] = []
                for node in nodes {
                    let client = try await RawClient.connect(port: node.port)
                    tokens.append(try await client.login("messi"))
                    #expect(try await client.request("inbox") == Expected.emptyInbox)  // cached now
                }
                let result = try await runProduct(
                    "kabar-server", ["user", "passwd", "messi", "--password-stdin", "--database", url], input: "newpassword1\n"
                )
                #expect(result.status == 0, "\(result.errorOutput)")
                for (node, token) in zip(nodes, tokens) {
                    let client = try await RawClient.connect(port: node.port)
                    #expect(try await client.request("inbox \(token)") == Expected.error("Session Tidak Ditemukan"))
                }
                let client = try await RawClient.connect(port: nodes[2].port)
                _ = try await client.login("messi", password: "newpassword1")
            }
        }

        @Test("SIGKILL one node under load from all three: nothing acknowledged lost or doubled, the others serve on, its users go offline within 5 s")
        func nodeKilledUnderLoad() async throws {
            try await withNodes { nodes, _ in
                let watcher = try await RawClient.connect(port: nodes[1].port)
                _ = try await watcher.login("henderson")
                // messi is online only on the node that dies.
                let doomed = try await RawClient.connect(port: nodes[0].port)
                _ = try await doomed.login("messi")
                #expect(try await eventually { try await watcher.request("show").contains("\"messi\"") })

                let acknowledged = Locked<[String]>([])
                let load = Task {
                    // The killed node's client fails at some point: it just stops.
                    _ = try await nodes.enumerated().map { $0 }.concurrentMap { (index, node) async throws in
                        guard let client = try? await RawClient.connect(port: node.port), (try? await client.login("lineker")) != nil else {
                            return
                        }
                        for number in 0..<400 {
                            let text = "n\(index)-\(number)"
                            guard (try? await client.request("send henderson \(text)", timeout: .seconds(5))) == Expected.messageSent else {
                                return
                            }
                            acknowledged.withLock { $0.append(text) }
                        }
                    }
                }
                try await Task.sleep(for: .milliseconds(300))
                #expect(try await nodes[0].stop(signal: SIGKILL) == SIGKILL)
                let killedAt = ContinuousClock.now
                #expect(try await eventually(within: .seconds(5)) { try await watcher.request("show").contains("\"messi\"") == false })
                let offlineAfter = ContinuousClock.now - killedAt
                #expect(offlineAfter < .seconds(5))
                _ = try await load.value
                print("node SIGKILL under load: its user offline elsewhere after \(offlineAfter); \(acknowledged.withLock { $0.count }) sends acknowledged")

                // A node stopped with SIGTERM takes its users offline as it stops.
                let leaving = try await RawClient.connect(port: nodes[2].port)
                _ = try await leaving.login("messi")
                #expect(try await eventually { try await watcher.request("show").contains("\"messi\"") })
                #expect(try await nodes[2].stop() == 0)
                #expect(try await watcher.request("show").contains("\"messi\"") == false, "\(nodes[2].log)\n---\n\(nodes[1].log)")

                let inbox = try await watcher.request("inbox", timeout: .seconds(30))
                let sent = acknowledged.withLock { $0 }
                #expect(sent.count > 400, "the two nodes that lived served their whole load")
                let positions = Expected.positions(ofMessages: sent, inInbox: inbox)
                #expect(positions.allSatisfy { $0 != nil }, "an acknowledged send is missing")
                for text in sent { #expect(inbox.components(separatedBy: "\"msg\": \"\(text)\"").count == 2, "\(text) stored twice") }
            }
        }
    }
}

/// Polls `condition` until it holds or `within` has passed. - Returns: whether it held.
func eventually(within limit: Duration = .seconds(2), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    repeat {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    } while ContinuousClock.now < deadline
    return try await condition()
}
