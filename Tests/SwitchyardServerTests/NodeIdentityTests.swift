import SwitchyardTesting
import Foundation
import SwitchyardServer
import Testing

@Suite("Node identity")
struct NodeIdentityTests {
    @Test func aNodeOfThisHostWhoseProcessEndedIsDefunct() throws {
        let process = try ChildProcess("/bin/true", [])
        process.waitUntilExit()
        let host = NodeIdentity.current.split(separator: "-").dropLast().joined(separator: "-")
        #expect(NodeIdentity.isDefunct("\(host)-\(process.processIdentifier)"))
        #expect(!NodeIdentity.isDefunct(NodeIdentity.current), "this process runs")
        #expect(!NodeIdentity.isDefunct("\(host)-1"), "pid 1 runs")
        #expect(!NodeIdentity.isDefunct("another-host-\(process.processIdentifier)"), "another host's processes are not ours to judge")
        #expect(!NodeIdentity.isDefunct("garbage"))
    }
}
