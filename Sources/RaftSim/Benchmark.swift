import RaftCore
import RaftSimulation

func benchmark(_ flags: Flags) throws(UsageError) -> Int32 {
    print("benchmark not yet implemented")
    return 0
}
