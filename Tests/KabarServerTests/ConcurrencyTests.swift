import Foundation
import KabarClient
import KabarProtocol
import KabarTestSupport
import Testing

/// Pipelining and many clients at once: exact counts, every message exactly once.
@Suite("Concurrency")
struct ConcurrencyTests {
    @Test("10 pipelined requests in one write get 10 replies in order")
    func pipelining() async throws {
        try await withTestServer { server in
            let client = try await server.rawClient()
            let henderson = try await server.rawClient()
            var batch = "auth messi surabaya\r\n"
            for index in 1...7 { batch += "send henderson pesan \(index)\r\n" }
            batch += "ping\r\nshow\r\n"
            try await client.send(batch)
            let replies = try await client.readReplies(10)
            #expect(Expected.token(inAuthReply: replies[0]) != nil)
            #expect(Array(replies[1...7]) == Array(repeating: Expected.messageSent, count: 7))
            #expect(replies[8] == Expected.pong)
            #expect(replies[9].hasPrefix(#"{"status": "OK", "message": [{"username": "messi""#))
            _ = try await henderson.login("henderson")
            let inbox = try await henderson.request("inbox")
            let positions = Expected.positions(ofMessages: (1...7).map { "pesan \($0)" }, inInbox: inbox)
            #expect(positions.allSatisfy { $0 != nil })
            #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        }
    }

    @Test("pipelined requests that change the binding: each request sees the state the one before it left")
    func pipelinedBindingChanges() async throws {
        try await withTestServer { server in
            let client = try await server.rawClient()
            let batch = [
                "auth messi surabaya",
                "send henderson sebelum",  // bound to messi's session
                "inbox",  // messi's inbox, empty
                "logout",
                "send henderson sesudah",  // unbound now
                "auth henderson surabaya",
                "inbox",  // henderson's inbox: the first message only
                "ping",
            ]
            try await client.send(batch.map { $0 + "\r\n" }.joined())
            let replies = try await client.readReplies(batch.count)
            let messiToken = try #require(Expected.token(inAuthReply: replies[0]))
            #expect(replies[1] == Expected.messageSent)
            #expect(replies[2] == Expected.emptyInbox)
            #expect(replies[3] == Expected.okMessage(messiToken))
            #expect(replies[4] == Expected.error("not authorized"))
            #expect(Expected.token(inAuthReply: replies[5]) != nil)
            #expect(replies[6].contains(#""msg": "sebelum""#))
            #expect(!replies[6].contains("sesudah"))
            #expect(replies[7] == Expected.pong)
        }
    }

    @Test("200 pipelined sends from one connection, pings between: answered in order, stored once each, in order")
    func pipelinedSendsKeepTheirOrder() async throws {
        try await withTestServer { server in
            let messi = try await server.rawClient()
            let henderson = try await server.rawClient()
            _ = try await messi.login("messi")
            _ = try await henderson.login("henderson")
            var batch = ""
            for index in 0..<200 {
                batch += "send henderson m\(index)\r\n"
                if index % 50 == 49 { batch += "ping\r\n" }
            }
            try await messi.send(batch)
            let replies = try await messi.readReplies(204, timeout: .seconds(30 * testTimeScale))
            #expect(replies.filter { $0 == Expected.messageSent }.count == 200)
            #expect([50, 101, 152, 203].allSatisfy { replies[$0] == Expected.pong })
            let inbox = try await henderson.request("inbox")
            let positions = Expected.positions(ofMessages: (0..<200).map { "m\($0)" }, inInbox: inbox)
            #expect(positions.allSatisfy { $0 != nil })
            #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        }
    }

    @Test("50 connections sending at once: every OK is stored exactly once")
    func fiftySenders() async throws {
        try await withTestServer { server in
            let senders = ["messi", "lineker"]
            let perConnection = 20
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        let connection = try await server.connect()
                        let token = try await connection.auth(username: senders[index % 2], password: "surabaya")
                        for message in 0..<perConnection {
                            try await connection.sendMessage("c\(index)-m\(message)", to: ["henderson"], token: token)
                        }
                        try await connection.close()
                    }
                }
                try await group.waitForAll()
            }
            let reader = try await server.connect()
            _ = try await reader.auth(username: "henderson", password: "surabaya")
            let groups = try await reader.inbox()
            let texts = groups.flatMap { $0.messages.map(\.text) }
            #expect(texts.count == 50 * perConnection)
            #expect(Set(texts).count == texts.count)
            #expect(Set(groups.map(\.sender)) == Set(senders))
            for group in groups {
                // Each connection's messages keep their order.
                for index in 0..<50 {
                    let mine = group.messages.map(\.text).filter { $0.hasPrefix("c\(index)-") }
                    #expect(mine == mine.sorted { Int($0.split(separator: "m").last!)! < Int($1.split(separator: "m").last!)! })
                }
            }
            #expect(try await reader.inbox().isEmpty)
        }
    }

    @Test("two sessions of one user drain one inbox while others send: every message exactly once")
    func drainingRace() async throws {
        try await withTestServer { server in
            let total = 300
            let received = try await withThrowingTaskGroup(of: [String].self) { group in
                for sender in ["messi", "lineker"] {
                    group.addTask {
                        let connection = try await server.connect()
                        let token = try await connection.auth(username: sender, password: "surabaya")
                        for message in 0..<(total / 2) {
                            try await connection.sendMessage("\(sender)-\(message)", to: ["henderson"], token: token)
                        }
                        return []
                    }
                }
                for _ in 0..<2 {
                    group.addTask {
                        let connection = try await server.connect()
                        let token = try await connection.auth(username: "henderson", password: "surabaya")
                        var texts: [String] = []
                        var emptyRounds = 0
                        while emptyRounds < 50 {
                            let batch = try await connection.inbox(token: token).flatMap { $0.messages.map(\.text) }
                            texts += batch
                            emptyRounds = batch.isEmpty ? emptyRounds + 1 : 0
                            if batch.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
                        }
                        return texts
                    }
                }
                var all: [[String]] = []
                for try await texts in group { all.append(texts) }
                return all
            }
            let drainers = received.filter { !$0.isEmpty }
            let everything = drainers.flatMap { $0 }
            let reader = try await server.connect()
            let leftovers = try await reader.inbox(
                token: try await reader.auth(username: "henderson", password: "surabaya")
            ).flatMap { $0.messages.map(\.text) }
            let delivered = everything + leftovers
            #expect(delivered.count == total)
            #expect(Set(delivered).count == total)
        }
    }
}
