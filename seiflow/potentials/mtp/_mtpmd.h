/* MD steps with the MTP inside the compiled library (included by _mtpkernel.c after
 * mtp_evaluate): velocity Verlet, optionally with a Nose-Hoover chain, the same operator
 * splitting and the same arithmetic as ASE's VelocityVerlet and NoseHooverChainNVT (tloop 1,
 * the fourth-order Suzuki-Yoshida weights), so that seiflow md gives ASE's trajectory while the
 * steps between two MD events never return to Python (seiflow/md/native.py).
 *
 * A step is two halves: A (chain over dt/2, half kick, drift) and B (forces at the new
 * positions, half kick, chain over dt/2). The neighbour list is the caller's (CSR, built with
 * a skin around the positions `ref`); it stays valid while no atom moved more than half the
 * skin from `ref` (`max_shift2` = (skin/2)^2, the test of neighbours.py's SkinList for a fixed
 * cell). When a drift leaves it, the call returns between A and B (`*mid` = 1) for the caller
 * to rebuild the list and call again with `start_mid` = 1, which begins with B. */

/* ASE's FOURTH_ORDER_COEFFS, computed the same way: 1/(2 - 2^(1/3)), -2^(1/3)/(2 - 2^(1/3)) */
static double sy4(int w)
{
    double c = pow(2.0, 1.0 / 3.0);
    return w == 1 ? -c / (2.0 - c) : 1.0 / (2.0 - c);
}

typedef struct {
    int tchain;          /* 0: NVE */
    double kT, n_dof_kT; /* kT (eV) and 3 N kT */
    const double *Q;     /* chain masses (tchain) */
    double *eta, *p_eta; /* chain positions and momenta (tchain), updated */
} mtp_chain;

static void chain_p_eta(mtp_chain *c, int j, double ke2, double d2, double d4)
{
    int last = c->tchain - 1;
    if (j < last)
        c->p_eta[j] *= exp(-d4 * c->p_eta[j + 1] / c->Q[j + 1]);
    double g = j == 0 ? ke2 - c->n_dof_kT : c->p_eta[j - 1] * c->p_eta[j - 1] / c->Q[j - 1] - c->kT;
    c->p_eta[j] += d2 * g;
    if (j < last)
        c->p_eta[j] *= exp(-d4 * c->p_eta[j + 1] / c->Q[j + 1]);
}

static double twice_kinetic(int n, const double *mom, const double *mass)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < 3; a++)
            s += mom[3 * i + a] * mom[3 * i + a] / mass[i];
    return s;
}

/* exp(i L_NHC delta): ASE's integrate_nhc with tloop 1. */
static void chain_half(mtp_chain *c, int n, double *mom, const double *mass, double delta)
{
    for (int w = 0; w < 3; w++) {
        double d = sy4(w) * delta, d2 = d / 2, d4 = d / 4;
        double ke2 = twice_kinetic(n, mom, mass);
        for (int j = c->tchain - 1; j >= 0; j--)
            chain_p_eta(c, j, ke2, d2, d4);
        for (int j = 0; j < c->tchain; j++)
            c->eta[j] += d * c->p_eta[j] / c->Q[j];
        double s = exp(-d * c->p_eta[0] / c->Q[0]);
        for (int q = 0; q < 3 * n; q++)
            mom[q] *= s;
        ke2 = twice_kinetic(n, mom, mass);
        for (int j = 0; j < c->tchain; j++)
            chain_p_eta(c, j, ke2, d2, d4);
    }
}

/* Up to n_steps steps from (pos, mom, forces at pos). Returns the steps completed, or -1 when
 * the kernel ran out of memory; *mid = 1 when it stopped after half A of the next step (the
 * list must be rebuilt around the new positions). energies, forces and virial hold the last
 * evaluation; basis (or NULL) is filled by the evaluation that ends step n_steps. */
MTP_EXPORT int mtp_md_steps(const mtp_model *M, int n_atoms, double *pos, double *mom,
                            const double *mass, const double *cell, const int *types,
                            const int64_t *offsets, const int32_t *nj, const int32_t *ns,
                            int n_threads, const double *ref, double max_shift2, int n_steps,
                            double dt, int start_mid, int tchain, double kT, const double *Q,
                            double *eta, double *p_eta, double *energies, double *forces,
                            double *virial, double *basis, int *mid)
{
    mtp_chain c = {tchain, kT, 3.0 * n_atoms * kT, Q, eta, p_eta};
    *mid = 0;
    for (int step = 0; step < n_steps; step++) {
        if (!(step == 0 && start_mid)) {
            if (tchain > 0)
                chain_half(&c, n_atoms, mom, mass, dt / 2);
            double worst = 0.0;
            for (int i = 0; i < n_atoms; i++) {
                double s2 = 0.0;
                for (int a = 0; a < 3; a++) {
                    int q = 3 * i + a;
                    mom[q] += dt / 2 * forces[q];
                    pos[q] += dt * mom[q] / mass[i];
                    double d = pos[q] - ref[3 * i + a];
                    s2 += d * d;
                }
                worst = s2 > worst ? s2 : worst;
            }
            if (!(worst <= max_shift2)) { /* NaN too: the caller sees a non-finite state */
                *mid = 1;
                return step;
            }
        }
        if (mtp_evaluate(M, n_atoms, pos, cell, types, offsets, nj, ns, n_threads, energies,
                         forces, virial, step == n_steps - 1 ? basis : NULL) != 0)
            return -1;
        for (int q = 0; q < 3 * n_atoms; q++)
            mom[q] += dt / 2 * forces[q];
        if (tchain > 0)
            chain_half(&c, n_atoms, mom, mass, dt / 2);
    }
    return n_steps;
}
