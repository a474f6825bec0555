// swift-tools-version: 6.2
// Rampart: a replicated IAM policy store. See README.md and shared design notes.

import PackageDescription

/// Strict settings shared by every target: Swift 6 language mode is the package default;
/// these upcoming features keep existentials explicit and imports private by default.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Rampart",
    products: [
        .library(name: "RaftCore", targets: ["RaftCore"]),
        .library(name: "PolicyModel", targets: ["PolicyModel"]),
        .library(name: "RaftStorage", targets: ["RaftStorage"]),
        .library(name: "PolicyStore", targets: ["PolicyStore"]),
        .library(name: "PeerTransport", targets: ["PeerTransport"]),
        .library(name: "Replica", targets: ["Replica"]),
        .library(name: "APIModels", targets: ["APIModels"]),
        .library(name: "AuditVerification", targets: ["AuditVerification"]),
        .library(name: "AdminAPI", targets: ["AdminAPI"]),
        .library(name: "ClusterService", targets: ["ClusterService"]),
        .library(name: "RampartClient", targets: ["RampartClient"]),
        .library(name: "Biscuit", targets: ["Biscuit"]),
        .library(name: "RampartAuthorizer", targets: ["RampartAuthorizer"]),
        .library(name: "RampartHTTPClient", targets: ["RampartHTTPClient"]),
        .executable(name: "rampart", targets: ["Rampart"]),
        .executable(name: "raft-sim", targets: ["RaftSim"]),
        .executable(name: "rampart-bench", targets: ["RampartBench"]),
        .executable(name: "rampart-example-service", targets: ["ExampleService"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Default traits off: no swift-configuration or full Foundation in the HTTP layer.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        // The HTTP part types of Hummingbird's channel pipeline (the authorize fast path).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        // TLS for the API, and the cluster's certificates (issue 20).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    ],
    targets: [
        // Pure cores: standard library only. The empty dependency list is the proof.
        .target(
            name: "RaftCore",
            dependencies: [],
            swiftSettings: strictSettings
        ),
        // The IAM domain: entities, validation, commands and their encoding, authorization.
        .target(
            name: "PolicyModel",
            dependencies: [],
            swiftSettings: strictSettings
        ),
        // Biscuit tokens: the format, signatures, Datalog, text; nothing of Rampart's domain.
        // Its only dependency is swift-crypto (Ed25519, P-256); the protobuf messages are
        // encoded by hand (Format/), for byte-exact control of what is signed.
        .target(
            name: "Biscuit",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // Adapter: the durable Raft log (checksummed write-ahead log segments).
        // Verifying and authorizing Rampart's tokens: the verified token, its request facts and
        // the cache, shared by the replicas and by services that verify in process. It links
        // no server code: the proof is this list.
        .target(
            name: "RampartAuthorizer",
            dependencies: ["Biscuit", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RaftStorage",
            dependencies: ["RaftCore"],
            swiftSettings: strictSettings
        ),
        // The system's SQLite library.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // The audit log's hash chain: sealing a record and checking a run of them. Shared by the
        // store, which seals, and the client, which verifies what it reads without the store.
        .target(
            name: "AuditVerification",
            dependencies: ["PolicyModel", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // Adapter: the policy state machine in SQLite, with the audit hash chain and snapshots.
        .target(
            name: "PolicyStore",
            dependencies: ["PolicyModel", "AuditVerification", "CSQLite", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // Adapter: the peer wire protocol (frames, mutual authentication) on SwiftNIO.
        .target(
            name: "PeerTransport",
            dependencies: [
                "RaftCore", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        // Runtime: drives a Raft instance with the durable log, the policy database and the peers.
        .target(
            name: "Replica",
            dependencies: [
                "RaftCore", "RaftStorage", "PolicyModel", "PolicyStore", "PeerTransport",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"), .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The HTTP API's request and response bodies and the cluster-secret proof: what the
        // server and the client must agree on, and nothing of either.
        .target(
            name: "APIModels",
            dependencies: ["PolicyModel", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // Delivery: the HTTP API every replica serves, over the narrow `PolicyCluster` protocols.
        .target(
            name: "AdminAPI",
            dependencies: [
                "APIModels", "PolicyModel", "Biscuit", "RampartAuthorizer", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                "ClusterCertificates", .product(name: "HummingbirdHTTP2", package: "hummingbird"), .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The server side of a replica, short of the process: its configuration, the API's view of
        // the runtime (`ReplicaCluster`, with the one mapping of runtime conditions to the API's
        // errors), the metrics text and the root-key maintenance loop.
        .target(
            name: "ClusterService",
            dependencies: [
                "AdminAPI", "APIModels", "Replica", "PeerTransport", "PolicyModel", "PolicyStore", "RaftCore", "BuildInfo",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), "ClusterCertificates",
                .product(name: "UnixSignals", package: "swift-service-lifecycle"), .product(name: "HummingbirdCore", package: "hummingbird"),
            ],
            swiftSettings: strictSettings
        ),
        // The cluster's certificates: a CA, replica and client certificates, and the checks a
        // server makes of its own (swift-certificates).
        .target(
            name: "ClusterCertificates",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
        // An HTTP/1.1 client on SwiftNIO that trusts a private CA and presents client
        // certificates: the CLI's transport, and a `RampartTransport` for services that follow an
        // HTTPS cluster with `ServiceAuthorizer`.
        .target(
            name: "RampartHTTPClient",
            dependencies: [
                "RampartAuthorizer", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        // The client: the HTTP client and every command but `server` (admin, bootstrap, audit
        // verification, the offline Biscuit verbs). It links no server code: the proof is this list.
        .target(
            name: "RampartClient",
            dependencies: [
                "APIModels", "AuditVerification", "PolicyModel", "Biscuit", "RampartAuthorizer", "RampartHTTPClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Crypto", package: "swift-crypto"),
                "ClusterCertificates", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        // The one binary: `rampart server` and the client's commands.
        // The git revision and date of the build, generated before each build (scripts/build-info).
        .target(name: "BuildInfo", swiftSettings: strictSettings, plugins: ["BuildInfoPlugin"]),
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        .executableTarget(
            name: "Rampart",
            dependencies: [
                "ClusterService", "RampartClient", "APIModels", "BuildInfo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // An example service that authorizes with Rampart's tokens in process.
        .executableTarget(
            name: "ExampleService",
            dependencies: [
                "RampartAuthorizer", "RampartHTTPClient", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: strictSettings
        ),
        // Test support: a deterministic, seeded cluster simulator and a transcript driver.
        .target(
            name: "RaftSimulation",
            dependencies: ["RaftCore"],
            swiftSettings: strictSettings
        ),
        // Release-built runner for the simulator soak, seed replay and the core benchmark.
        .executableTarget(
            name: "RaftSim",
            dependencies: ["RaftCore", "RaftSimulation"],
            swiftSettings: strictSettings
        ),
        // Release-built runner for the policy model and durable log benchmarks.
        .executableTarget(
            name: "RampartBench",
            dependencies: ["PolicyModel", "PolicyStore", "RaftCore", "RaftStorage"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BiscuitTests",
            dependencies: ["Biscuit", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RampartAuthorizerTests",
            dependencies: ["RampartAuthorizer", "Biscuit"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RaftCoreTests",
            dependencies: ["RaftCore", "RaftSimulation"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RaftStorageTests",
            dependencies: ["RaftCore", "RaftStorage"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PeerTransportTests",
            dependencies: [
                "PeerTransport", "RaftCore", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                "ClusterCertificates", .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AdminAPITests",
            dependencies: [
                "AdminAPI", "APIModels", "Biscuit", "PolicyModel", "RampartAuthorizer", .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                "ClusterCertificates",
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ReplicaTests",
            dependencies: [
                "Replica", "ClusterService", "AdminAPI", "RaftCore", "RaftStorage", "PolicyModel", "PolicyStore", "PeerTransport",
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ClusterServiceTests",
            dependencies: [
                "ClusterService", "ClusterCertificates", "AdminAPI", "Replica", "RaftCore", .product(name: "Logging", package: "swift-log"),
                "PeerTransport", .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PolicyStoreTests",
            dependencies: ["PolicyModel", "PolicyStore", "AuditVerification"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PolicyModelTests",
            dependencies: ["PolicyModel"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RaftSimulationTests",
            dependencies: ["RaftCore", "RaftSimulation"],
            exclude: ["Transcripts"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Micro-benchmarks of the hot paths (ordo-one/benchmark, with allocation counts) join the
// package only when RAMPART_BENCHMARKS is set, as `scripts/bench-micro` does (with a build
// folder of its own): ordinary builds, the tests and CI never build the harness.
if Context.environment["RAMPART_BENCHMARKS"] != nil {
    package.dependencies.append(.package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                "RaftCore", "RaftSimulation", "PolicyModel", "PolicyStore", "PeerTransport",
                .product(name: "Benchmark", package: "benchmark"), .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/HotPaths",
            swiftSettings: strictSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ))
    // The Biscuit library on the reference's tokens (`scripts/bench-biscuit`).
    package.targets.append(
        .executableTarget(
            name: "BiscuitBench",
            dependencies: ["Biscuit", "RampartAuthorizer", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/BiscuitBench",
            swiftSettings: strictSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ))
}
