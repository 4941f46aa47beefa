using ILGPU.Runtime.Cuda;

namespace FlashAttention.Kernels.TensorCore;

/// <summary>
/// Whether a condition holds on every lane of the warp: <c>vote.sync.all</c> on CUDA (ILGPU 1.5.3
/// has no warp vote), an AND over five xor-shuffles elsewhere. Every lane must call it.
/// </summary>
internal static class WarpVote
{
    public static bool All<TTarget>(bool value) where TTarget : struct, ITensorCoreTarget
    {
        if (default(TTarget).EmitsPtx)
        {
            Ref<uint> result = 0u, flag = value ? 1u : 0u;
            CudaAsm.EmitRef(
                "{ .reg .pred vote_p; setp.ne.u32 vote_p, %1, 0; vote.sync.all.pred vote_p, vote_p, 0xffffffff; selp.u32 %0, 1, 0, vote_p; }",
                ref result, ref flag);
            return result.Value != 0u;
        }
        int all = value ? 1 : 0;
        for (int mask = 16; mask > 0; mask >>= 1)
            all &= Warp.ShuffleXor(all, mask);
        return all != 0;
    }
}
