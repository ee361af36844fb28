// MARK: - WireText

/// Wire spellings that are not error texts: reply keys and fixed OK messages.
enum WireText {
    static let status = "status"
    static let ok = "OK"
    static let error = "ERROR"
    static let message = "message"
    static let messages = "messages"
    static let tokenID = "tokenid"
    static let messageSent = "Message Sent"
    static let userRegistered = "User Registered"
    static let pong = "PONG"
    static let messageFrom = "msg_from"
    static let messageTo = "msg_to"
    static let messageText = "msg"
    static let username = "username"
    static let name = "name"
    static let country = "negara"
    static let replyTerminator = "\r\n\r\n"
}
