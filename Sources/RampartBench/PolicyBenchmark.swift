import PolicyModel

func mustName(_ text: String) -> Name {
    do { return try Name(text) } catch { fatalError("invalid generated name \(text)") }
}

/// `authorize` latency: builds a state of N organizations × M principals × B bindings each by
/// applying commands, then times checks of random principals, permissions and resources.
func runPolicyBenchmark() {
    let organizationCount = flag("organizations", default: 1000)
    let principalCount = flag("principals", default: 100)
    let bindingCount = min(flag("bindings", default: 5), 5)
    let checks = flag("checks", default: 1_000_000)

    var state = PolicyState()
    var revision: UInt64 = 0
    var nextID: UInt64 = 1
    let clock = ContinuousClock()
    let buildStart = clock.now
    func apply(_ command: Command) {
        revision += 1
        let outcome = state.apply(
            CommandEnvelope(command: command, actor: nil, requestID: "bench", time: Timestamp(millisecondsSinceEpoch: 0)),
            at: revision)
        if let rejection = outcome.rejection { fatalError("setup command rejected: \(rejection)") }
    }
    // Two organization-wide roles, then project roles: checks mix allowed and denied answers.
    let roles: [RoleReference] = [.builtIn(.organizationViewer), .builtIn(.organizationAuditor)]
    for organizationIndex in 0..<organizationCount {
        let organization = mustName("org\(organizationIndex)")
        apply(.createOrganization(name: organization))
        for project in 0..<3 { apply(.createProject(organization: organization, name: mustName("p\(project)"))) }
        for principalIndex in 0..<principalCount {
            let member = PrincipalReference(organization: organization, name: mustName("u\(principalIndex)"))
            apply(.createPrincipal(member, kind: .user))
            for binding in 0..<bindingCount {
                let scope: Scope =
                    binding < roles.count
                    ? .organization(organization) : .project(organization: organization, project: mustName("p\(binding - roles.count)"))
                let role: RoleReference = binding < roles.count ? roles[binding] : (binding == 2 ? .builtIn(.projectAdmin) : .builtIn(.projectViewer))
                apply(.createBinding(id: EntityID(high: 1, low: nextID), principal: member, role: role, scope: scope))
                nextID += 1
            }
        }
    }
    let buildElapsed = clock.now - buildStart
    print("policy state: \(organizationCount) organizations × \(principalCount) principals × \(bindingCount) bindings, \(revision) commands applied in \(buildElapsed)")

    // Names are built before timing so that the loop measures `authorize` alone.
    let organizationNames = (0..<organizationCount).map { mustName("org\($0)") }
    let principalNames = (0..<principalCount).map { mustName("u\($0)") }
    let projectNames = (0..<3).map { mustName("p\($0)") }
    var generator = SystemRandomNumberGenerator()
    let permissions: [Permission]
    do {
        permissions = [
            try Permission("compute.instances.get", allowWildcards: false),
            try Permission("compute.instances.create", allowWildcards: false),
            try Permission("iam.audit.read", allowWildcards: false), try Permission("storage.buckets.delete", allowWildcards: false),
        ]
    } catch {
        fatalError("invalid benchmark permission: \(error)")
    }
    var samples: [Int64] = []
    samples.reserveCapacity(checks)
    var allowed = 0
    for _ in 0..<checks {
        let organization = organizationNames[Int(generator.next() % UInt64(organizationCount))]
        let member = PrincipalReference(organization: organization, name: principalNames[Int(generator.next() % UInt64(principalCount))])
        let permission = permissions[Int(generator.next() % 4)]
        let resource: Scope = generator.next() % 2 == 0 ? .organization(organization) : .project(organization: organization, project: projectNames[Int(generator.next() % 3)])
        let start = clock.now
        let decision = state.authorize(member, permission, on: resource)
        let elapsed = clock.now - start
        if decision.allowed { allowed += 1 }
        samples.append(elapsed.components.attoseconds / 1_000_000_000 + elapsed.components.seconds * 1_000_000_000)
    }
    samples.sort()
    func percentile(_ p: Double) -> Double { Double(samples[min(samples.count - 1, Int(Double(samples.count) * p))]) / 1000 }
    print("authorize: \(checks) checks (\(allowed) allowed): p50 \(percentile(0.5)) µs, p99 \(percentile(0.99)) µs, p99.9 \(percentile(0.999)) µs")
}
