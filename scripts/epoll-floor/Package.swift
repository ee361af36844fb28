// swift-tools-version:6.0
// A probe for scripts/bench, not part of Kabar: see Sources/epoll-floor/main.swift.
import PackageDescription

let package = Package(
    name: "epoll-floor",
    targets: [
        .target(name: "CEpollFloor"),
        .executableTarget(name: "epoll-floor", dependencies: ["CEpollFloor"]),
    ]
)
